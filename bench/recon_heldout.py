"""The reconstruction default against zero-filling and compressed sensing on its held-out data: tables, targets, a figure.

The held-out data are those of the ``recon`` recipe of ``Training/campaign.yaml`` (its ``held_out`` folders: whole
MR volumes whose single-coil k-space is simulated, and a real k-space file); a file the recipe also trains or
validates on is refused. Every method is scored by the evaluation runner — what ``Training/evaluate.py --task
reconstruction --model <default> --baseline zero-filled cs-tv cs-wavelet`` runs — in one run on this machine:
fastMRI random masks seeded per file (centre fractions 0.08 at 4x, 0.04 at 8x; the same mask for every method),
fastMRI's NMSE / PSNR / SSIM per whole volume, compressed sensing with its default λ and iterations, and the wall
seconds per slice of each method's whole job (k-space simulation or reading included).

    python bench/recon_heldout.py --out bench/benchreport/recon_heldout.md --figure docs/recon_heldout.png
    python bench/recon_heldout.py --out bench/benchreport/recon_heldout.md --from-json   # re-render, no measuring

The measured rows are cached beside the section (``--json``, default ``--out`` with ``.json``), so ``--from-json``
rebuilds the section without ../shared/data; the figure is drawn only when measuring. Without ../shared/data the
script says so and writes nothing. Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench"):  # run from a source checkout without installing; bench's own modules
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from benchreport import heldout  # noqa: E402  (bench/ on the path above)
from benchreport.heldout import log  # noqa: E402

RECIPE = "recon"
TASK = "reconstruction"
ZERO_FILLED = "zero-filled"
COMPRESSED_SENSING = ("cs-tv", "cs-wavelet")
BASELINES = (ZERO_FILLED, *COMPRESSED_SENSING)
ACCELERATIONS = (4.0, 8.0)
# The targets: the model's PSNR gain over zero-filled per acceleration (dB); compressed sensing's seconds per slice.
MODEL_GAIN_DB = {"4x": 3.0, "8x": 2.0}
CS_SECONDS_PER_SLICE = 1.0
FIGURE_SETTING = "4x"
# The table's columns: (metric, heading, format, which value is best).
COLUMNS = (
    ("nmse", "NMSE", ".4f", min),
    ("psnr", "PSNR (dB)", ".2f", max),
    ("gain", "Δ PSNR vs zero-filled (dB)", "+.2f", max),
    ("ssim", "SSIM", ".4f", max),
    ("seconds_per_slice", "s/slice", ".3f", min),
)

Rows = dict[str, dict[str, dict[str, dict[str, float]]]]  # case → setting → method → metrics


# --------------------------------------------------------------------------------------------- the data


def held_out_sets(shared: Path, work: Path) -> list[Any]:
    """The recipe's held-out data, linked from ``shared`` into ``work`` (:func:`benchreport.heldout.held_out_sets`)."""
    return heldout.held_out_sets(RECIPE, shared, work)


def kspace_grid(path: Path, kind: str) -> list[int]:
    """(rows, columns) of one slice's k-space: a fastMRI file's own, an MR volume's slice grid (simulated there)."""
    if kind == "fastmri":
        import h5py

        with h5py.File(path, "r") as f:
            return [int(n) for n in f["kspace"].shape[-2:]]
    from condswin.io.images import read_image_header

    size = read_image_header(path).GetSize()  # (x, y, z): a slice is rows y × columns x
    return [int(size[1]), int(size[0])]


# --------------------------------------------------------------------------------------------- measuring


def measure(bundle: Any, sets: Sequence[Any], work: Path, command: str) -> tuple[dict[str, Any], list[Any]]:
    """Score the default ``bundle`` (a registry entry) and the baselines on every held-out set: (results for the
    JSON, the 4x slices the figure shows)."""
    import torch
    from benchreport.machine import describe

    from condswin.mri.compressed_sensing import get_method
    from condswin.training.evaluation import EvaluationRequest, run_evaluation
    from condswin.training.evaluation.cases import find_eval_cases

    model_id = bundle.id
    results: dict[str, Any] = {
        "model": model_id,
        "sha256": bundle.card.sha256,
        "machine": describe(ROOT, torch.get_num_threads()),
        "command": command,
        "compressed_sensing": {
            m: {"lam": get_method(m).lam, "iterations": get_method(m).iterations} for m in COMPRESSED_SENSING
        },
        "data": [data.description for data in sets],
        "grids": {},
        "rows": [],
    }
    shown = []
    started = time.perf_counter()
    for n, data in enumerate(sets):
        for case in find_eval_cases(TASK, data.folder, data.kind).cases:
            results["grids"][case.case_id] = kspace_grid(case.path, data.kind)
        result = run_evaluation(
            EvaluationRequest(
                task=TASK,
                data=data.folder,
                kind=data.kind,
                models=(model_id,),
                baselines=BASELINES,
                accelerations=ACCELERATIONS,
                out=work / f"evaluation{n}",
                montage_cases=1,
                hd95=False,
                overwrite=True,
                device="cpu",
            ),
            log=log,
        )
        results["rows"] += [
            {"case": r.case, "method": r.method, "setting": r.setting, "metrics": dict(r.metrics)} for r in result.rows
        ]
        shown += [row for row in result.montage_rows if row.title.split(" ")[1] == FIGURE_SETTING]
    results["wall_seconds"] = time.perf_counter() - started
    results["load_average_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return results, shown


# --------------------------------------------------------------------------------------------- the section


def rows_by_case(results: dict[str, Any]) -> Rows:
    """``{case: {setting: {method: metrics}}}``, each with its PSNR gain over zero-filled (``gain``)."""
    table: Rows = {}
    for row in results["rows"]:
        table.setdefault(row["case"], {}).setdefault(row["setting"], {})[row["method"]] = dict(row["metrics"])
    for settings in table.values():
        for methods in settings.values():
            zero = methods.get(ZERO_FILLED, {}).get("psnr")
            for metrics in methods.values():
                if zero is not None and "psnr" in metrics:
                    metrics["gain"] = metrics["psnr"] - zero
    return table


def case_table(model: str, methods: dict[str, dict[str, float]]) -> str:
    """One volume at one acceleration: a row per method, the best value of each column in bold."""
    order = [m for m in (*BASELINES, model) if m in methods]
    best = {}
    for key, _, _, better in COLUMNS:
        values = [methods[m][key] for m in order if key in methods[m]]
        best[key] = better(values) if values else None
    lines = ["| Method | " + " | ".join(c[1] for c in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for method in order:
        cells = []
        for key, _, fmt, _ in COLUMNS:
            value = methods[method].get(key)
            text = "—" if value is None else format(value, fmt)
            cells.append(f"**{text}**" if value is not None and value == best[key] else text)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _verdict(margin: float, unit: str, fmt: str) -> str:
    """``met`` for a margin above zero, else by how much the target is missed."""
    return "met" if margin > 0 else f"missed by {-margin:{fmt}}{unit}"


def target_checks(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(target, what was measured and whether it holds), per held-out case and acceleration."""
    model = results["model"]
    checks = []
    for case, settings in rows_by_case(results).items():
        for setting, methods in settings.items():
            mine, zero = methods.get(model), methods.get(ZERO_FILLED)
            cs = {m: methods[m] for m in COMPRESSED_SENSING if m in methods}
            where = f"{case} {setting}"
            if mine is not None and zero is not None and setting in MODEL_GAIN_DB:
                need = MODEL_GAIN_DB[setting]
                gain = mine["gain"]
                checks.append(
                    (
                        f"{where}: model ≥ +{need:g} dB PSNR over zero-filled",
                        f"{gain:+.2f} dB ({mine['psnr']:.2f} vs {zero['psnr']:.2f}): "
                        + ("met" if gain >= need else f"missed by {need - gain:.2f} dB"),
                    )
                )
            if mine is not None and cs:
                for key, unit, fmt in (("psnr", " dB", ".2f"), ("ssim", "", ".4f")):
                    rival = max(cs, key=lambda m, key=key: cs[m][key])
                    checks.append(
                        (
                            f"{where}: model above the better CS method in {key.upper()}",
                            f"{mine[key]:{fmt}} vs {cs[rival][key]:{fmt}} ({rival}): "
                            + _verdict(mine[key] - cs[rival][key], unit, fmt),
                        )
                    )
            if zero is not None:
                for method, metrics in cs.items():
                    checks.append(
                        (
                            f"{where}: {method} above zero-filled in SSIM",
                            f"{metrics['ssim']:.4f} vs {zero['ssim']:.4f}: "
                            + _verdict(metrics["ssim"] - zero["ssim"], "", ".4f"),
                        )
                    )
        grid = "×".join(map(str, results.get("grids", {}).get(case, []))) or "?"
        for method in COMPRESSED_SENSING:
            speeds = {s: m[method]["seconds_per_slice"] for s, m in settings.items() if method in m}
            if speeds:
                slowest = max(speeds, key=speeds.__getitem__)
                seconds = speeds[slowest]
                checks.append(
                    (
                        f"{case}: {method} under {CS_SECONDS_PER_SLICE:g} s per slice (k-space {grid})",
                        f"{seconds:.2f} s (slowest: {slowest}): "
                        + _verdict(CS_SECONDS_PER_SLICE - seconds, " s", ".2f"),
                    )
                )
    return checks


def section(results: dict[str, Any], figure: str | None) -> str:
    """The Markdown section: provenance, the targets met or missed, one table per case × acceleration, the figure."""
    from benchreport.machine import markdown as machine_markdown

    model = results["model"]
    cs = "; ".join(
        f"{m}: λ {p['lam']:g}, {p['iterations']} iterations" for m, p in results["compressed_sensing"].items()
    )
    parts = [
        f"The default `{model}` (sha256 {results['sha256'][:12]}) against zero-filling and compressed sensing at its "
        f"defaults ({cs}) on the held-out data of the reconstruction recipe (`Training/campaign.yaml`), never "
        "trained or validated on: " + "; ".join(results["data"]) + ". Every method is scored by the evaluation "
        "runner (`Training/evaluate.py --baseline zero-filled cs-tv cs-wavelet`) on the same seeded fastMRI random "
        "mask; NMSE / PSNR / SSIM per whole volume; s/slice: wall seconds per slice of each method's whole job, "
        f"all in this one run (load average {results['load_average_end']:.1f} at its end, "
        f"{results['wall_seconds']:.0f} s in all).\n\n",
        machine_markdown(results["machine"]),
        f"\nCommand: `{results['command']}`\n",
        "\n| target | measured |\n|---|---|\n",
        "".join(f"| {a} | {b} |\n" for a, b in target_checks(results)),
    ]
    for case, settings in rows_by_case(results).items():
        for setting, methods in settings.items():
            parts.append(f"\n#### {case}, {setting}\n\n" + case_table(model, methods))
    if figure:
        parts.append(
            f"\n![zero-filled, compressed sensing and the model on a held-out slice at {FIGURE_SETTING}]({figure})\n\n"
            f"One slice of each held-out file at {FIGURE_SETTING} (the runner's representative slice): the "
            "reference, zero-filled, CS-TV, CS-wavelet and the model (whole-volume PSNR in the heading), and "
            "below each its absolute error on one scale per file.\n"
        )
    return "".join(parts)


# --------------------------------------------------------------------------------------------- the figure


def draw_figure(shown: Sequence[Any], results: dict[str, Any], out: Path) -> None:
    """Per held-out file two rows: reference and each method; each method's absolute error (one scale per file)."""
    import numpy as np

    from condswin.evaluation.figures import ERROR_CMAP, Panel, draw_panels, save_figure

    table = rows_by_case(results)
    methods = [*BASELINES, results["model"]]
    rows: list[list[Panel | None]] = []
    titles = []
    for row in shown:
        case = row.title.split(" ")[0]
        psnr = table[case][FIGURE_SETTING]
        top = float(np.percentile(row.reference, 99.9)) or 1.0
        errors = {m: np.abs(row.outputs[m].astype(np.float64) - row.reference) for m in methods}
        scale = max(float(np.percentile(e, 99.5)) for e in errors.values()) or top
        rows.append(
            [
                Panel("reference", row.reference, vmin=0, vmax=top),
                *(Panel(f"{m} ({psnr[m]['psnr']:.2f} dB)", row.outputs[m], vmin=0, vmax=top) for m in methods),
            ]
        )
        rows.append(
            [
                None,
                *(
                    Panel(f"|{m} − ref| (0–{scale:.2g})", errors[m], cmap=ERROR_CMAP, vmin=0, vmax=scale)
                    for m in methods
                ),
            ]
        )
        titles += [row.title, ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    figure = draw_panels(rows, panel_size=(2.4, 2.5), fontsize=7, row_titles=titles)
    save_figure(figure, out, dpi=90)


# --------------------------------------------------------------------------------------------- the command


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return heldout.parse_section_args("bench/recon_heldout.py", __doc__.split("\n\n")[0], "recon_heldout", argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def measure_and_draw(bundle: Any, command: str) -> dict[str, Any]:
        results, shown = measure(bundle, held_out_sets(args.shared, args.work), args.work, command)
        if args.figure is not None:
            draw_figure(shown, results, args.figure)
            results["figure"] = os.path.relpath(args.figure.resolve(), ROOT / "docs")  # as docs/benchmarks.md sees it
        return results

    return heldout.run_section(args, argv, "bench/recon_heldout.py", TASK, measure_and_draw, section)


if __name__ == "__main__":
    sys.exit(main())
