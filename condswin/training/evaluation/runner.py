"""One evaluation from request to files: check everything, score every case, write tables and figures.

Order, so that a mistake costs seconds, not hours: options (usage errors), the output folder (an existing
result is not replaced without ``overwrite``), the training log, the dataset's cases (headers only), the
device, the methods (bundles loaded, checksums verified); only then the first case is read. Outputs, each
written atomically into ``request.out``::

    metrics.csv            one row per case × method × setting (every metric, full precision)
    metrics.md             mean ± std over cases per method and setting (the summary tables)
    montage_<task>.png     representative slices: input, reference, each method, error maps
    curves.png             training curves (with ``curves``)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from condswin.errors import OutputError, OutputExistsError, UsageError
from condswin.evaluation.rows import MetricRow, MontageRow
from condswin.evaluation.tables import SummaryRow, csv_text, markdown_tables, summarise_rows
from condswin.training.evaluation.baseline_cache import BaselineCache
from condswin.training.evaluation.cases import CaseList, EvalCase, find_eval_cases
from condswin.training.evaluation.curves import TrainingLog, read_training_log
from condswin.training.evaluation.methods import Method, resolve_methods
from condswin.training.evaluation.records import CaseOutcome, RowCallback
from condswin.training.evaluation.request import EvaluationRequest, Setting, check_request, settings_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from condswin.inference import InferenceOptions

__all__ = ["EvaluationResult", "run_evaluation", "output_paths"]

Log = Callable[[str], None]


@dataclass
class EvaluationResult:
    """What an evaluation produced.

    Attributes:
        rows: every per-volume row.
        summary: mean ± std per method and setting.
        written: output name (``csv``, ``markdown``, ``montage``, ``curves``) → file.
        notices: cases left out and notices of the jobs.
        montage_rows: the slices the montage shows (one per shown case and setting), for callers that draw
            their own figure from them.
        montage / curves: the figures (already saved), for callers that look at them.
    """

    rows: list[MetricRow] = field(default_factory=list)
    summary: list[SummaryRow] = field(default_factory=list)
    written: dict[str, Path] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    montage_rows: list[MontageRow] = field(default_factory=list)
    montage: Figure | None = None
    curves: Figure | None = None


def output_paths(request: EvaluationRequest) -> dict[str, Path]:
    """The files a request writes (see the module docstring)."""
    paths = {}
    if request.task is not None:
        paths = {
            "csv": request.out / "metrics.csv",
            "markdown": request.out / "metrics.md",
            "montage": request.out / f"montage_{request.task}.png",
        }
        if request.montage_cases == 0:
            del paths["montage"]
    if request.curves is not None:
        paths["curves"] = request.out / "curves.png"
    return paths


def _check_outputs(request: EvaluationRequest, paths: dict[str, Path], log: TrainingLog | None) -> None:
    if request.out.exists() and not request.out.is_dir():
        raise OutputError(f"{request.out}: is a file; --out takes a folder")
    protected = {source.resolve() for source in log.sources} if log is not None else set()
    for path in paths.values():
        if path.resolve() in protected:
            raise UsageError(f"{path}: is the training log given with --curves; choose another --out folder")
        if path.exists() and not request.overwrite:
            raise OutputExistsError(f"{path}: already exists; pass --overwrite to replace it")


def _score_case(
    request: EvaluationRequest,
    kind: str,
    case: EvalCase,
    methods: Sequence[Method],
    settings: Sequence[Setting],
    options: InferenceOptions,
    montage: bool,
    on_row: RowCallback,
    cache: BaselineCache | None = None,
) -> CaseOutcome:
    from condswin.training.evaluation.denoising import score_denoising_case
    from condswin.training.evaluation.reconstruction import score_reconstruction_case
    from condswin.training.evaluation.segmentation import score_segmentation_case

    if request.task == "segmentation":
        return score_segmentation_case(case, methods, options, hd95=request.hd95, montage=montage, on_row=on_row)
    if request.task == "reconstruction":
        return score_reconstruction_case(
            case, kind, methods, settings, options, mask=request.mask, montage=montage, on_row=on_row
        )
    return score_denoising_case(
        case,
        methods,
        settings,
        options,
        noise=request.noise or "rician",
        seed=request.seed,
        montage=montage,
        on_row=on_row,
        cache=cache,
    )


def _row_text(row: MetricRow) -> str:
    metrics = row.metrics
    if all(isinstance(v, dict) for v in metrics.values()):  # per class
        return "  ".join(
            f"{name} Dice {'-' if values.get('dice') is None else format(values['dice'], '.4f')}"
            for name, values in metrics.items()
            if "dice" in values  # the classes, not the volume and count measures
        )
    return f"PSNR {metrics['psnr']:.2f}  SSIM {metrics['ssim']:.4f}"


def _describe(request: EvaluationRequest, cases: CaseList, methods: Sequence[Method]) -> str:
    lines = [f"# Evaluation: {request.task}", ""]
    if request.command:
        lines += [f"Command: `{request.command}`", ""]
    count = len(cases.cases)
    lines.append(f"Data: `{request.data}` ({cases.kind}, {count} volume{'' if count == 1 else 's'}).")
    lines.append("Methods: " + ", ".join(f"`{m.name}`" + (" (model)" if m.is_model else "") for m in methods) + ".")
    if request.task == "reconstruction":
        lines.append(
            f"Masks: {request.mask}, fastMRI centre fractions (0.08 at 4x, 0.04 at 8x), the per-file seeded mask "
            "(the same for every method); MR volumes: k-space simulated with a smooth phase seeded by the file name."
        )
    if request.task == "denoising":
        lines.append(
            f"Noise: {request.noise or 'rician'}, σ relative to each volume's maximum, one seeded noisy volume per "
            f"case and σ (base seed {request.seed}) given to every method; classical methods estimate σ themselves."
        )
    lines.append(
        "Every metric is computed per whole volume (fastMRI's definitions for images; per class for labels), "
        "then mean ± population std over the volumes."
    )
    return "\n".join(lines) + "\n"


def _markdown(request: EvaluationRequest, cases: CaseList, methods: Sequence[Method], result: EvaluationResult) -> str:
    assert request.task is not None  # only an evaluation of a task writes tables
    from condswin.lits import LITS_CLASSES

    text = (
        _describe(request, cases, methods)
        + "\n"
        + markdown_tables(request.task, result.summary, list(LITS_CLASSES.values()))
    )
    if result.notices:
        text += "\nNotices:\n\n" + "".join(f"- {notice}\n" for notice in result.notices)
    return text


def run_evaluation(request: EvaluationRequest, log: Log = print) -> EvaluationResult:
    """Run an evaluation and write its outputs.

    Args:
        request: what to evaluate (see :class:`EvaluationRequest`).
        log: called with one progress line per case.

    Returns:
        An :class:`EvaluationResult`.

    Raises:
        UsageError: options that do not fit the task, unknown baselines, an unavailable device.
        InputError: a missing or empty dataset, an unreadable case or training log.
        ModelError: an unknown model, a model of another task, a corrupt bundle.
        OutputError: an output exists without ``overwrite``, or cannot be written.
    """
    check_request(request)
    paths = output_paths(request)
    training_log = read_training_log(request.curves) if request.curves is not None else None
    _check_outputs(request, paths, training_log)
    result = EvaluationResult()
    if request.task is not None:
        _evaluate(request, paths, result, log)
    if training_log is not None:
        from condswin.evaluation.figures import save_figure
        from condswin.training.evaluation.curves import curves_figure

        result.curves = curves_figure(training_log, request.monitor, title=f"training curves: {request.curves}")
        save_figure(result.curves, paths["curves"])
        result.written["curves"] = paths["curves"]
    return result


def _evaluate(request: EvaluationRequest, paths: dict[str, Path], result: EvaluationResult, log: Log) -> None:
    from condswin.inference import InferenceOptions, resolve_device
    from condswin.io.atomic import write_text_atomic

    assert request.task is not None and request.data is not None  # checked with the request
    cases = find_eval_cases(request.task, request.data, request.kind, request.limit)
    settings = settings_of(request)
    resolve_device(request.device)  # an unavailable device is a usage error before any model is loaded
    methods = resolve_methods(request.task, request.models, request.baselines)
    options = InferenceOptions(device=request.device)
    cache = None if request.baseline_cache is None else BaselineCache(request.baseline_cache)
    result.notices.extend(cases.notices)
    montage: list[MontageRow] = []
    for number, case in enumerate(cases.cases, start=1):
        start = time.perf_counter()
        shown = number <= request.montage_cases
        log(f"[{number}/{len(cases.cases)}] {case.case_id}")

        def progress(row: MetricRow) -> None:
            log(f"    {row.setting + ' ' if row.setting else ''}{row.method}: {_row_text(row)}")

        outcome = _score_case(request, cases.kind, case, methods, settings, options, shown, progress, cache)
        result.rows.extend(outcome.rows)
        montage.extend(outcome.montage)
        result.notices.extend(
            f"{case.path}: {' '.join(filter(None, (row.method, row.setting)))}: {row.details['notices']}"
            for row in outcome.rows
            if row.details.get("notices")
        )
        log(f"    {case.case_id} done in {time.perf_counter() - start:.1f} s")
    result.summary = summarise_rows(result.rows)
    result.montage_rows = montage
    write_text_atomic(csv_text(result.rows), paths["csv"])
    write_text_atomic(_markdown(request, cases, methods, result), paths["markdown"])
    result.written.update(csv=paths["csv"], markdown=paths["markdown"])
    if "montage" in paths and montage:
        from condswin.evaluation.figures import montage_figure, save_figure

        names = [m.name for m in methods]
        result.montage = montage_figure(montage, names, title=f"{request.task}: {request.data}")
        save_figure(result.montage, paths["montage"])
        result.written["montage"] = paths["montage"]
