"""``condswin evaluate PRED REF``: the metric tables of DESIGN §4 for one pair or two folders.

Segmentation (integer label maps): Dice, IoU, precision, recall, F1 and HD95 (mm) per class. Reconstruction
or denoising (any other images, or a fastMRI ``.h5`` reference, whose ``reconstruction_esc``/``_rss`` is the
target): fastMRI NMSE, PSNR, SSIM and MAE over the volume. Folders are paired by file name without suffix.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from condswin.cli.batch import IMAGE_SUFFIXES, StagedOutputs, split_suffix
from condswin.cli.errors import BAD_INPUT, OK, SOME_FAILED, OutputError, UsageError, exit_code_for
from condswin.cli.progress import PROGRESS_MODES, Reporter
from condswin.errors import InputError, InputNotFoundError

__all__ = ["add_parser", "run", "parse_labels"]

SEG_COLUMNS = ("dice", "iou", "precision", "recall", "f1", "hd95")
RECON_COLUMNS = ("nmse", "psnr", "ssim", "mae")


def add_parser(subparsers: Any) -> None:
    """Register the ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="segmentation or reconstruction metrics of predictions against references",
        description=__doc__.split("\n", 1)[1].strip(),
    )
    parser.add_argument("prediction", type=Path, metavar="PRED", help="prediction file or folder")
    parser.add_argument("reference", type=Path, metavar="REF", help="reference file or folder (.h5 allowed)")
    parser.add_argument(
        "--kind",
        choices=("auto", "segmentation", "reconstruction"),
        default="auto",
        help="metric family; auto = segmentation when both images are integer-typed",
    )
    parser.add_argument(
        "--labels", default="1=liver,2=tumour", help="segmentation classes VALUE=NAME,... (default: LiTS)"
    )
    parser.add_argument("--no-hd95", action="store_true", help="skip the 95%% Hausdorff distance (the slow part)")
    parser.add_argument("--output", type=Path, default=None, help="also write every result and the means as JSON")
    parser.add_argument("--progress", choices=PROGRESS_MODES, default="auto", help="as for the other commands")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    parser.set_defaults(run=run)


def parse_labels(text: str) -> dict[int, str]:
    """``"1=liver,2=tumour"`` → ``{1: "liver", 2: "tumour"}``."""
    labels: dict[int, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        value, sep, name = item.partition("=")
        try:
            labels[int(value)] = name.strip()
        except ValueError:
            raise UsageError(f"--labels expects VALUE=NAME pairs, got {item!r}") from None
        if not sep or not name.strip():
            raise UsageError(f"--labels expects VALUE=NAME pairs, got {item!r}")
    if not labels:
        raise UsageError("--labels is empty")
    return labels


def _pairs(pred: Path, ref: Path) -> list[tuple[Path, Path | None]]:
    for path in (pred, ref):
        if not path.exists():
            raise InputNotFoundError(f"{path}: no such file or folder")
    if pred.is_file() and ref.is_file():
        return [(pred, ref)]
    if not (pred.is_dir() and ref.is_dir()):
        raise UsageError("PRED and REF must both be files or both be folders")
    suffixes = (*IMAGE_SUFFIXES, ".h5")
    refs = {
        split_suffix(p)[0]: p
        for p in sorted(ref.iterdir())
        if p.is_file() and split_suffix(p)[1] in suffixes and not p.name.startswith(".")
    }
    preds = [
        p
        for p in sorted(pred.iterdir())
        if p.is_file() and split_suffix(p)[1] in IMAGE_SUFFIXES and not p.name.startswith(".")
    ]
    if not preds:
        raise UsageError(f"{pred}: no prediction images in this folder")
    return [(p, refs.get(split_suffix(p)[0])) for p in preds]


def _read_pair(pred_path: Path, ref_path: Path) -> tuple[Any, Any, tuple[float, ...], bool]:
    """(prediction array, reference array, numpy-order spacing, both integer-typed)."""
    import numpy as np
    import SimpleITK as sitk

    from condswin.io.images import grid_mismatch, read_image

    pred = read_image(pred_path, ndim=None)
    pred_array = sitk.GetArrayFromImage(pred)
    if ref_path.suffix.lower() == ".h5":
        from condswin.mri.fastmri import read

        volume = read(ref_path)
        if volume.target is None:
            raise InputError(f"{ref_path}: this fastMRI file has no target (a test file) to evaluate against")
        if volume.target.shape != pred_array.shape:
            raise InputError(
                f"{pred_path}: shape {pred_array.shape} differs from the target {volume.target.shape} of {ref_path}"
            )
        return pred_array, volume.target, tuple(volume.spacing), False
    ref = read_image(ref_path, ndim=None)
    mismatch = grid_mismatch(pred, ref)
    if mismatch:
        raise InputError(f"{pred_path}: voxel grid differs from {ref_path} ({mismatch})")
    integer = all(np.issubdtype(a.dtype, np.integer) for a in (pred_array, sitk.GetArrayViewFromImage(ref)))
    return pred_array, sitk.GetArrayFromImage(ref), tuple(reversed(pred.GetSpacing())), integer


def _evaluate(
    pred_path: Path, ref_path: Path, args: argparse.Namespace, labels: dict[int, str]
) -> tuple[str, dict[str, Any]]:
    from condswin.metrics import reconstruction_metrics, segmentation_metrics

    pred, ref, spacing, integer = _read_pair(pred_path, ref_path)
    kind = args.kind if args.kind != "auto" else ("segmentation" if integer else "reconstruction")
    if kind == "segmentation":
        if not integer:
            raise InputError(f"{pred_path}: segmentation metrics need integer label maps on both sides")
        per_class = segmentation_metrics(pred, ref, labels=labels, spacing=spacing, with_hd95=not args.no_hd95)
        return kind, {
            name: {k: v for k, v in values.items() if k in SEG_COLUMNS or k in ("tp", "fp", "fn")}
            for name, values in per_class.items()
        }
    return kind, reconstruction_metrics(ref, pred)


def _mean(rows: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    import numpy as np

    def avg(values: list[float]) -> dict[str, Any]:
        finite = [v for v in values if not math.isnan(v)]
        return {"mean": float(np.mean(finite)) if finite else float("nan"), "nan_cases": len(values) - len(finite)}

    if kind == "reconstruction":
        return {c: avg([r[c] for r in rows]) for c in RECON_COLUMNS}
    names = rows[0].keys()
    return {n: {c: avg([r[n][c] for r in rows if c in r[n]]) for c in SEG_COLUMNS if c in rows[0][n]} for n in names}


def _format_row(name: str, kind: str, metrics: dict[str, Any]) -> list[str]:
    if kind == "reconstruction":
        return [f"{name:<28} " + "  ".join(f"{c} {metrics[c]:.4f}" for c in RECON_COLUMNS)]
    return [
        f"{name:<28} {cls:<10} " + "  ".join(f"{c} {values[c]:.4f}" for c in SEG_COLUMNS if c in values)
        for cls, values in metrics.items()
    ]


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run ``evaluate``; returns the exit code."""
    labels = parse_labels(args.labels)
    if args.output is not None and args.output.exists() and not args.overwrite:
        raise OutputError(f"output already exists: {args.output}; pass --overwrite to replace")
    pairs = _pairs(args.prediction, args.reference)
    results: list[dict[str, Any]] = []
    failures = 0
    last_code = OK
    for index, (pred_path, ref_path) in enumerate(pairs):
        reporter.event("start", index, len(pairs), f"{pred_path}", file=str(pred_path))
        try:
            if ref_path is None:
                raise InputNotFoundError(f"{pred_path}: no reference of the same name in {args.reference}")
            kind, metrics = _evaluate(pred_path, ref_path, args, labels)
        except Exception as exc:  # noqa: BLE001 - one bad pair is reported, the others still evaluated
            failures += 1
            last_code = exit_code_for(exc)
            reporter.error(str(exc), file=str(pred_path), code=last_code)
            continue
        row = {"prediction": str(pred_path), "reference": str(ref_path), "kind": kind, "metrics": metrics}
        results.append(row)
        reporter.result("\n".join(_format_row(pred_path.name, kind, metrics)), row, file=str(pred_path))
    kinds = {r["kind"] for r in results}
    means = {k: _mean([r["metrics"] for r in results if r["kind"] == k], k) for k in kinds}
    if len(results) > 1:
        for kind, mean in means.items():
            flat = (
                {c: v["mean"] for c, v in mean.items()}
                if kind == "reconstruction"
                else {n: {c: v["mean"] for c, v in m.items()} for n, m in mean.items()}
            )
            reporter.result(
                "\n".join(_format_row(f"mean of {sum(r['kind'] == kind for r in results)}", kind, flat)),
                {"kind": kind, "mean": mean},
            )
    if args.output is not None:
        with StagedOutputs() as staged:
            staged.write_json({"results": results, "means": means, "failed": failures}, args.output)
            staged.commit()
    reporter.event(
        "summary",
        len(results),
        len(pairs),
        f"{len(results)} of {len(pairs)} pair(s) evaluated" + (f", {failures} failed" if failures else ""),
    )
    if not failures:
        return OK
    return SOME_FAILED if len(pairs) > 1 else (last_code if last_code != OK else BAD_INPUT)
