"""``condswin evaluate PRED REF``: per-volume metric tables (fastMRI's for images) for one pair or two folders.

Segmentation (label maps): Dice, IoU, precision, recall, F1 and HD95 (mm) per class; a class found in
neither map is reported as absent, not as a perfect score. Reconstruction or denoising (intensity images,
or a fastMRI ``.h5`` reference, whose ``reconstruction_esc``/``_rss`` is the target): fastMRI NMSE, PSNR,
SSIM and MAE over the volume. Folders are paired by file name without suffix; over several pairs the
mean and standard deviation of every metric follow.
"""

from __future__ import annotations

import argparse
import traceback
from pathlib import Path
from typing import Any

from condswin.cli.batch import StagedOutputs, split_suffix
from condswin.cli.errors import BAD_INPUT, INTERNAL_ERROR, OK, SOME_FAILED, UsageError, exit_code_for
from condswin.cli.outputs import InputPlan, check_outputs
from condswin.cli.progress import PROGRESS_MODES, Reporter
from condswin.errors import InputError, InputNotFoundError
from condswin.evaluation.scores import score_label_maps
from condswin.io.formats import READABLE_SUFFIXES
from condswin.lits import LITS_CLASSES
from condswin.mri import fastmri

# `condswin --help` imports this module: what loads SimpleITK or scipy (image reading, the metrics) is imported
# where it is used (lazy).

__all__ = ["add_parser", "run", "parse_labels"]


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
        help="metric family; auto = segmentation when both images are label maps (a few integer values)",
    )
    lits = ",".join(f"{value}={name}" for value, name in LITS_CLASSES.items())
    parser.add_argument("--labels", default=lits, help=f"segmentation classes VALUE=NAME,... (default: LiTS, {lits})")
    parser.add_argument("--no-hd95", action="store_true", help="skip the 95%% Hausdorff distance (the slow part)")
    parser.add_argument(
        "--output", type=Path, default=None, help="also write every result and the means as JSON (never an input)"
    )
    parser.add_argument("--progress", choices=PROGRESS_MODES, default="auto", help="as for the other commands")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    parser.set_defaults(run=run)


def parse_labels(text: str) -> dict[int, str]:
    """``"1=liver,2=tumour"`` → ``{1: "liver", 2: "tumour"}``.

    Raises:
        UsageError: an item that is not VALUE=NAME, a value or a name given twice (the metrics of one class
            would be reported under two names, or two classes under one), or no item at all.
    """
    labels: dict[int, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        value_text, sep, name = item.partition("=")
        name = name.strip()
        try:
            value = int(value_text)
        except ValueError:
            raise UsageError(f"--labels expects VALUE=NAME pairs, got {item!r}") from None
        if not sep or not name:
            raise UsageError(f"--labels expects VALUE=NAME pairs, got {item!r}")
        if value in labels:
            raise UsageError(f"--labels gives class {value} twice ({labels[value]!r} and {name!r})")
        if name in labels.values():
            raise UsageError(f"--labels names {name!r} twice; each class needs a name of its own")
        labels[value] = name
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
    suffixes = (*READABLE_SUFFIXES, ".h5")
    refs = {
        split_suffix(p)[0]: p
        for p in sorted(ref.iterdir())
        if p.is_file() and split_suffix(p)[1] in suffixes and not p.name.startswith(".")
    }
    preds = [
        p
        for p in sorted(pred.iterdir())
        if p.is_file() and split_suffix(p)[1] in READABLE_SUFFIXES and not p.name.startswith(".")
    ]
    if not preds:
        raise UsageError(f"{pred}: no prediction images in this folder")
    return [(p, refs.get(split_suffix(p)[0])) for p in preds]


def _label_map(image: Any, array: Any, labels: dict[int, str]) -> bool:
    """A label map: a few small integer values, or integer values that are all classes of ``--labels``."""
    import numpy as np

    from condswin.io.images import is_label_map  # lazy: SimpleITK (see top)

    if not np.issubdtype(array.dtype, np.integer):
        return False
    return is_label_map(image) or set(np.unique(array).tolist()) <= {0, *labels}


def _read_pair(pred_path: Path, ref_path: Path, labels: dict[int, str]) -> tuple[Any, Any, tuple[float, ...], str]:
    """(prediction array, reference array, numpy-order spacing, which side is a label map).

    The last item is ``"both"``, ``"neither"``, or the path of the only label map of the two.
    """
    import SimpleITK as sitk  # lazy: SimpleITK (see top)

    from condswin.io.images import grid_mismatch, read_image  # lazy: SimpleITK (see top)

    pred = read_image(pred_path, ndim=None)
    pred_array = sitk.GetArrayFromImage(pred)
    if ref_path.suffix.lower() == ".h5":
        volume = fastmri.read(ref_path)
        if volume.target is None:
            raise InputError(f"{ref_path}: this fastMRI file has no target (a test file) to evaluate against")
        if volume.target.shape != pred_array.shape:
            raise InputError(
                f"{pred_path}: shape {pred_array.shape} differs from the target {volume.target.shape} of {ref_path}"
            )
        return pred_array, volume.target, tuple(volume.spacing), "neither"
    ref = read_image(ref_path, ndim=None)
    mismatch = grid_mismatch(pred, ref)
    if mismatch:
        raise InputError(f"{pred_path}: voxel grid differs from {ref_path} ({mismatch})")
    ref_array = sitk.GetArrayFromImage(ref)
    pred_labels, ref_labels = _label_map(pred, pred_array, labels), _label_map(ref, ref_array, labels)
    sides = {(True, True): "both", (False, False): "neither", (True, False): str(pred_path)}
    return (
        pred_array,
        ref_array,
        tuple(reversed(pred.GetSpacing())),
        sides.get((pred_labels, ref_labels), str(ref_path)),
    )


def _evaluate(
    pred_path: Path, ref_path: Path, args: argparse.Namespace, labels: dict[int, str]
) -> tuple[str, dict[str, Any]]:
    from condswin.metrics import reconstruction_metrics  # lazy: scipy (see top)

    pred, ref, spacing, label_maps = _read_pair(pred_path, ref_path, labels)
    kind = args.kind
    if kind == "auto":
        if label_maps not in ("both", "neither"):
            other = ref_path if label_maps == str(pred_path) else pred_path
            raise InputError(
                f"{other}: an intensity image, but {label_maps} is a label map: no metric compares the two "
                "(pass --kind to choose one)"
            )
        kind = "segmentation" if label_maps == "both" else "reconstruction"
    if kind == "segmentation":
        if label_maps != "both":
            not_labels = [str(p) for p in (pred_path, ref_path) if str(p) != label_maps]
            raise InputError(
                f"{' and '.join(not_labels)}: not a label map (integer values that are classes of --labels, or a "
                "few small integers), so segmentation metrics would be meaningless"
            )
        return kind, score_label_maps(pred, ref, labels, spacing, hd95=not args.no_hd95)
    return kind, reconstruction_metrics(ref, pred)


def _check_output(args: argparse.Namespace) -> None:
    """``--output`` may not replace an input (a file given, or one inside a folder given), nor a folder."""
    if args.output is not None:
        report = InputPlan(args.prediction, {"report": args.output}, "")
        check_outputs([report], args.overwrite, protected=(args.prediction, args.reference))


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run ``evaluate``; returns the exit code."""
    from condswin.evaluation.tables import text_lines  # lazy: scipy (see top)

    labels = parse_labels(args.labels)
    pairs = _pairs(args.prediction, args.reference)
    _check_output(args)
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
            if last_code == INTERNAL_ERROR:
                traceback.print_exc()  # a bug: its traceback, as for the other commands
            reporter.error(str(exc) or type(exc).__name__, file=str(pred_path), code=last_code)
            continue
        row = {"prediction": str(pred_path), "reference": str(ref_path), "kind": kind, "metrics": metrics}
        results.append(row)
        reporter.result("\n".join(text_lines(pred_path.name, metrics)), row, file=str(pred_path))
    means = _means(results, reporter)
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


def _means(results: list[dict[str, Any]], reporter: Reporter) -> dict[str, Any]:
    """Mean, std and counts of every metric per kind (:mod:`condswin.metrics.aggregate`); shown for several pairs."""
    from condswin.evaluation.tables import text_lines  # lazy: scipy (see top)
    from condswin.metrics import aggregate, means  # lazy: scipy (see top)
    from condswin.metrics.aggregate import to_json  # lazy: scipy (see top)

    tables: dict[str, Any] = {}
    for kind in sorted({r["kind"] for r in results}):
        cases = [r["metrics"] for r in results if r["kind"] == kind]
        table = aggregate(cases)
        tables[kind] = to_json(table)
        if len(results) > 1:
            reporter.result(
                "\n".join(text_lines(f"mean of {len(cases)}", means(table))), {"kind": kind, "mean": tables[kind]}
            )
    return tables
