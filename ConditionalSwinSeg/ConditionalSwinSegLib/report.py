"""The segmentation report as the module shows it: the rows of its table and its one-line summary, named after
the labels of the model's card.

``condswin segment`` reports the card's labels (``labels``: value → name) and measures a LiTS model (label 1
liver, label 2 liver tumour) with the liver report (``liver_ml``, tumour count, volumes and burden) and any
other model by the volume of each of its labels (``volumes_ml``: name → mL). Which of the two a report holds
decides its rows, so a model with other labels gets rows of its own. Segment names, colours and terminology
come from the card too, through the ``.seg.nrrd`` file the command writes (a card gives each label a colour).
"""

from __future__ import annotations

from typing import Any

from condswin_slicer.i18n import _

__all__ = ["LIVER_ROWS", "label_names", "report_rows", "report_summary"]

# (report key, row label, unit) of the liver report of a LiTS model, in display order.
LIVER_ROWS = (
    ("liver_ml", "Liver volume (incl. tumours)", "mL"),
    ("liver_parenchyma_ml", "Liver parenchyma", "mL"),
    ("tumour_count", "Tumour count", ""),
    ("tumour_ml", "Tumour volume", "mL"),
    ("tumour_burden_percent", "Tumour burden", "%"),
)


def _is_liver_report(report: dict[str, Any]) -> bool:
    return "liver_ml" in report


def label_names(report: dict[str, Any]) -> list[str]:
    """The names of the card's labels, by label value."""
    labels = report.get("labels") or {}
    return [str(labels[value]) for value in sorted(labels, key=int)]


def report_rows(report: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """``(measure, value, unit)`` rows of the report table: the liver report's measures and one row per tumour
    for a LiTS model, else the volume of every label of the card."""
    if _is_liver_report(report):
        rows = [(label, report.get(key), unit) for key, label, unit in LIVER_ROWS]
        tumours = report.get("tumour_volumes_ml", [])
        return rows + [(f"Tumour {i}", volume, "mL") for i, volume in enumerate(tumours, start=1)]
    volumes = report.get("volumes_ml") or {}
    return [(f"{name} volume", volumes.get(name), "mL") for name in label_names(report)]


def report_summary(report: dict[str, Any]) -> str:
    """One line for the panel: liver, tumours and burden for a LiTS model, else the volume of every label."""
    if _is_liver_report(report):
        return _("Liver {liver:.1f} mL, {count} tumour(s) {tumour:.1f} mL, burden {burden:.2f} %").format(
            liver=report["liver_ml"],
            count=report["tumour_count"],
            tumour=report["tumour_ml"],
            burden=report["tumour_burden_percent"],
        )
    volumes = report.get("volumes_ml") or {}
    return ", ".join(
        _("{name} {volume:.1f} mL").format(name=name, volume=volumes[name])
        for name in label_names(report)
        if volumes.get(name) is not None
    )
