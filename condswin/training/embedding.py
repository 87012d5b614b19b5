"""Embed a trained bundle: measure it on held-out data, choose its storage and CPU precision by measurement,
write what was measured and its limits onto the card, and register it in ``Resources/Models``.

Order (nothing is registered unless every step succeeds):

1. score the bundle as trained (float32 weights, float32 inference) on each held-out dataset, beside the
   task's baselines (zero-filled for reconstruction, BM3D for denoising) — per volume and mean;
2. with ``fp16``: the same with half-precision weights; kept when the key metric moves by at most
   ``tolerance`` (absolute: Dice, SSIM) on every setting;
3. on a CPU with native bf16: the same with bf16 inference; the card allows it (``inference.cpu_bf16``) only
   within the same tolerance — elsewhere the card stays float32, because the change was not measured;
4. the card gets ``metrics.held_out`` (datasets, per-volume rows, means, baselines, the gain over the first
   baseline), ``metrics.precision`` (what fp16 and bf16 changed), ``limits`` and ``default_reason``; the bundle
   is copied into the registry (checksum verified) and marked default of its task when asked;
5. its metrics on the fixed regression sample (:mod:`condswin.training.regression`) go on the card too.

Replacing a default is a decision by measurement: with ``default``, the task's current default in the registry
is scored on the same held-out data in the same run, and the candidate becomes the default only when its key
metric (mean over every volume and setting) is higher; both numbers and the decision go on the card
(``metrics.default_decision``). When it is not higher nothing is registered and the registry is unchanged,
unless ``force_reason`` says why it should replace the default anyway.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from condswin.bundles import (
    CARD_FILENAME,
    BundleError,
    embed_bundle,
    embedded_models_dir,
    load_bundle,
    parse_card,
    read_bundle,
    read_registry,
    save_bundle,
)
from condswin.bundles.registry import REGISTRY_FILENAME, is_default
from condswin.errors import InputNotFoundError, UsageError
from condswin.io.atomic import write_json_atomic

if TYPE_CHECKING:
    from condswin.training.evaluation import EvaluationResult

# Training/embed.py imports this module at start-up, so its --help stays quick: what loads torch, SimpleITK or
# scipy (the held-out evaluation, the CPU's bf16 probe, the regression sample) is imported where it is used.

__all__ = [
    "HeldOut",
    "KEY_METRIC",
    "EmbedRequest",
    "EmbedOutcome",
    "embed_trained_bundle",
    "rerecord_regression_sample",
    "current_default",
    "bundle_folder",
]

# The metric whose change decides fp16 weights and bf16 inference, per task (all higher-is-better).
KEY_METRIC = {"segmentation": "dice", "reconstruction": "ssim", "denoising": "ssim"}
BASELINES = {"segmentation": (), "reconstruction": ("zero-filled",), "denoising": ("bm3d",)}


@dataclass(frozen=True)
class HeldOut:
    """One held-out dataset: a folder, its data kind, and what it is (for the card)."""

    folder: Path
    kind: str
    description: str


@dataclass(frozen=True)
class EmbedRequest:
    """What to embed and how (see the module docstring)."""

    bundle: Path
    held_out: tuple[HeldOut, ...]
    limits: str
    default_reason: str = ""
    default: bool = False
    fp16: bool = False
    tolerance: float = 0.002
    accelerations: tuple[float, ...] = (4.0, 8.0)
    sigmas: tuple[float, ...] = (0.05, 0.10)
    noise: str = "rician"
    models_dir: Path | None = None
    work: Path | None = None
    shared: Path = Path(__file__).resolve().parents[3] / "shared" / "data"
    extra_baselines: tuple[str, ...] = field(default_factory=tuple)
    force_reason: str = ""
    baseline_cache: Path | None = None


@dataclass(frozen=True)
class EmbedOutcome:
    """What embedding did: the registry folder (None when the candidate was not registered) and the decision."""

    registry: Path | None
    decision: dict[str, Any] | None


def _evaluate(
    request: EmbedRequest, task: str, bundle: Path, data: HeldOut, baselines: Sequence[str], out: Path
) -> EvaluationResult:
    from condswin.training.evaluation import EvaluationRequest, run_evaluation  # lazy: scipy (see top)

    return run_evaluation(
        EvaluationRequest(
            task=task,
            data=data.folder,
            kind=data.kind,
            models=(str(bundle),),
            baselines=tuple(baselines),
            accelerations=request.accelerations if task == "reconstruction" else None,
            sigmas=request.sigmas if task == "denoising" else None,
            noise=request.noise if task == "denoising" else None,
            out=out,
            montage_cases=0,
            hd95=task == "segmentation",  # on the card beside Dice; about a minute for three real CTs
            baseline_cache=request.baseline_cache if task == "denoising" else None,
            overwrite=True,
            device="cpu",
        ),
        log=lambda line: None,
    )


def _key_values(rows: Sequence[Any], method: str, task: str) -> dict[tuple[str, str], float]:
    """(setting, case[/class]) → the key metric of ``method``'s rows (classes flattened for segmentation)."""
    metric = KEY_METRIC[task]
    values: dict[tuple[str, str], float] = {}
    for row in rows:
        if row.method != method:
            continue
        if task == "segmentation":
            for cls, stats in row.metrics.items():
                if isinstance(stats, dict) and stats.get(metric) is not None:
                    values[row.setting, f"{row.case}/{cls}"] = float(stats[metric])
        else:
            values[row.setting, row.case] = float(row.metrics[metric])
    return values


def _mean(values: dict[tuple[str, str], float]) -> float:
    return sum(values.values()) / len(values) if values else float("nan")


def current_default(task: str, models_dir: Path | None) -> Any:
    """The registry's default bundle of ``task`` (its ``"default": true`` entry), or None."""
    registry = (models_dir if models_dir is not None else embedded_models_dir()) / REGISTRY_FILENAME
    if not registry.is_file():
        return None
    return next((b for b in read_registry(registry) if b.task == task and is_default(b)), None)


def bundle_folder(bundle: Any, target: Path) -> Path:
    """A registry entry as a stand-alone bundle folder (card + weights), so it can be scored like the candidate."""
    target.mkdir(parents=True)
    card = bundle.card.to_dict()
    card["weights"] = bundle.weights_path.name
    shutil.copyfile(bundle.weights_path, target / bundle.weights_path.name)
    write_json_atomic(card, target / CARD_FILENAME)
    return target


def _default_decision(
    request: EmbedRequest, task: str, candidate: list[dict], work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """Score the current default on the same held-out data and decide whether the candidate replaces it."""
    metric = KEY_METRIC[task]
    candidate_score = _mean({k: v for values in candidate for k, v in values.items()})
    decision: dict[str, Any] = {
        "key_metric": f"{metric}, mean over every held-out volume and setting",
        "data": [data.description for data in request.held_out],
        "candidate": candidate_score,
    }
    current = current_default(task, request.models_dir)
    if current is None:
        decision.update(current_default=None, replaces=True, reason="the task had no default")
        return decision
    folder = bundle_folder(current, work / "current-default")
    scores: dict[tuple[str, str], float] = {}
    for n, data in enumerate(request.held_out):
        log(f"embed: scoring the current default {current.id} on {data.folder}")
        result = _evaluate(request, task, folder, data, (), work / f"current{n}")
        scores.update({(f"{n}|{k[0]}", k[1]): v for k, v in _key_values(result.rows, current.id, task).items()})
    current_score = _mean(scores)
    better = candidate_score > current_score
    decision["current_default"] = {"id": current.id, "sha256": current.card.sha256, "score": current_score}
    if better:
        decision.update(replaces=True, reason=f"{metric} {candidate_score:.4f} > {current_score:.4f}")
    elif request.force_reason:
        decision.update(
            replaces=True,
            reason=f"forced ({metric} {candidate_score:.4f} <= {current_score:.4f}): {request.force_reason}",
        )
    else:
        decision.update(replaces=False, reason=f"{metric} {candidate_score:.4f} <= {current_score:.4f}")
    return decision


def _largest_change(reference: dict, variant: dict) -> float:
    return max((abs(variant[k] - reference[k]) for k in reference if k in variant), default=0.0)


def _record(value: Any) -> Any:
    """Metrics as the held-out record keeps them: each summary statistic as its mean, spread and case count."""
    if isinstance(value, dict):
        return {k: _record(v) for k, v in value.items()}
    if hasattr(value, "mean") and hasattr(value, "std"):
        return {"mean": value.mean, "std": value.std, "cases": value.cases}
    return value


def _held_out_record(task: str, card_id: str, data: HeldOut, result: Any, baselines: Sequence[str]) -> dict[str, Any]:
    rows = [
        {"case": r.case, "method": r.method, "setting": r.setting, "metrics": _record(dict(r.metrics))}
        for r in result.rows
    ]
    means = {f"{s.method}|{s.setting}".rstrip("|"): _record(dict(s.stats)) for s in result.summary}
    record: dict[str, Any] = {"data": data.description, "folder_kind": data.kind, "per_volume": rows, "mean": means}
    if task in ("reconstruction", "denoising") and baselines:
        base = baselines[0]
        gains: dict[str, dict[str, float]] = {}
        for r in result.rows:
            if r.method != card_id:
                continue
            b = next((x for x in result.rows if x.method == base and x.case == r.case and x.setting == r.setting), None)
            if b is not None:
                gains.setdefault(r.setting, {})[r.case] = float(r.metrics["psnr"]) - float(b.metrics["psnr"])
        record[f"psnr_gain_over_{base}_db"] = gains
    return record


def embed_trained_bundle(request: EmbedRequest, log: Callable[[str], None] = print) -> EmbedOutcome:
    """Measure, annotate and register a trained bundle (module docstring).

    Returns:
        The registry folder and, with ``default``, the decision; the folder is None when the candidate did not
        beat the current default (nothing was registered).
    """
    from condswin.inference.device import cpu_has_native_bf16  # lazy: torch, SimpleITK (see top)

    if not request.held_out:
        raise UsageError("embedding needs at least one held-out dataset to measure the model on")
    if not request.tolerance >= 0:
        raise UsageError(
            f"the tolerance is an absolute change of {KEY_METRIC} and must be >= 0, got {request.tolerance}"
        )
    source = read_bundle(request.bundle)
    card, task = source.card, source.card.task
    baselines = (*BASELINES[task], *request.extra_baselines)
    work = Path(tempfile.mkdtemp(prefix="embed-", dir=request.work))
    try:
        held_out, precision = [], {"tolerance": request.tolerance, "key_metric": KEY_METRIC[task]}
        fp16_changes, bf16_changes = [], []
        candidate_scores: list[dict[tuple[str, str], float]] = []
        half = work / "half"
        if request.fp16:
            save_bundle(load_bundle(source).model, card, half, dtype="float16")
        bf16_card = work / "bf16"
        shutil.copytree(request.bundle, bf16_card)
        _allow_cpu_bf16(bf16_card)
        for n, data in enumerate(request.held_out):
            log(f"embed {card.id}: scoring on {data.folder} (float32)")
            result = _evaluate(request, task, request.bundle, data, baselines, work / f"eval{n}")
            reference = _key_values(result.rows, card.id, task)
            candidate_scores.append({(f"{n}|{k[0]}", k[1]): v for k, v in reference.items()})
            held_out.append(_held_out_record(task, card.id, data, result, baselines))
            if request.fp16:
                log(f"embed {card.id}: scoring fp16 weights")
                fp16 = _evaluate(request, task, half, data, (), work / f"half{n}")
                fp16_changes.append(_largest_change(reference, _key_values(fp16.rows, card.id, task)))
            if cpu_has_native_bf16():
                log(f"embed {card.id}: scoring bf16 inference")
                bf16 = _evaluate(request, task, bf16_card, data, (), work / f"bf16{n}")
                bf16_changes.append(_largest_change(reference, _key_values(bf16.rows, card.id, task)))
        decision = _default_decision(request, task, candidate_scores, work, log) if request.default else None
        if decision is not None:
            log(f"embed {card.id}: default decision: {decision['reason']}")
            if not decision["replaces"]:
                log(f"embed {card.id}: not registered; the current default stays")
                return EmbedOutcome(registry=None, decision=decision)
        keep_fp16 = request.fp16 and max(fp16_changes) <= request.tolerance
        if request.fp16:
            precision["fp16_weights_largest_change"] = max(fp16_changes)
            precision["fp16_weights_kept"] = keep_fp16
        if bf16_changes:
            precision["cpu_bf16_largest_change"] = max(bf16_changes)
        allow_bf16 = bool(bf16_changes) and max(bf16_changes) <= request.tolerance
        precision["cpu_bf16_allowed"] = allow_bf16
        chosen = half if keep_fp16 else request.bundle
        final = work / "final"
        shutil.copytree(chosen, final)
        _annotate(final, held_out, precision, request, allow_bf16, decision)
        _record_regression_sample(final, request.shared, log)
        registered = embed_bundle(final, request.models_dir, overwrite=True, default=request.default or None)
        log(f"embed {card.id}: registered in {registered.source} (fp16 weights: {keep_fp16}, cpu bf16: {allow_bf16})")
        return EmbedOutcome(registry=registered.source.parent, decision=decision)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _edit_card(bundle_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Change a bundle's card in place (weights untouched), refusing a card the loader would not read."""
    path = bundle_dir / CARD_FILENAME
    card = json.loads(path.read_text())
    edit(card)
    parse_card(card, str(path))
    write_json_atomic(card, path)


def _record_regression_sample(bundle_dir: Path, shared: Path, log: Callable[[str], None]) -> None:
    """Score the final bundle (its stored weights, its card's precision) on the task's fixed sample and record it,
    so the regression tests can hold every later checkout to it (:mod:`condswin.training.regression`)."""
    from condswin.training.regression import (  # lazy: torch, SimpleITK, scipy (see top)
        missing_sample,
        regression_metrics,
        sample_description,
    )

    bundle = read_bundle(bundle_dir)
    reason = missing_sample(bundle.task, shared)
    if reason is not None:
        log(f"embed {bundle.id}: no regression sample recorded: {reason}")
        return
    record = {"sample": sample_description(bundle.task), "values": regression_metrics(load_bundle(bundle), shared)}
    _edit_card(bundle_dir, lambda card: card["metrics"].__setitem__("regression", record))


def rerecord_regression_sample(
    model_id: str, shared: Path, models_dir: Path | None = None, log: Callable[[str], None] = print
) -> dict[str, float]:
    """Score a registered model on its task's fixed sample again and replace the record in the registry.

    For when the sample itself changes (``python -m condswin.samples`` after a change of the phantom): the
    weights are untouched; only ``metrics.regression`` of the model's registry entry is rewritten (atomically,
    and the old registry is put back when the new one does not read).

    Returns:
        The new values.

    Raises:
        BundleError: no such model in the registry, or a registry that does not read.
        InputNotFoundError: the task's sample is not here.
    """
    from condswin.training.regression import (  # lazy: torch, SimpleITK, scipy (see top)
        missing_sample,
        regression_metrics,
        sample_description,
    )

    folder = models_dir if models_dir is not None else embedded_models_dir()
    registry = folder / REGISTRY_FILENAME
    bundle = next((b for b in read_registry(registry) if b.id == model_id), None)
    if bundle is None:
        raise BundleError(f"{registry}: no model '{model_id}'")
    reason = missing_sample(bundle.task, shared)
    if reason is not None:
        raise InputNotFoundError(reason)
    values = regression_metrics(load_bundle(bundle), shared)
    before = registry.read_text()
    data = json.loads(before)
    for entry in data["models"]:
        if entry["id"] == model_id:
            entry.setdefault("metrics", {})["regression"] = {
                "sample": sample_description(bundle.task),
                "values": values,
            }
    write_json_atomic(data, registry)
    try:
        read_registry(registry)
    except BundleError:
        registry.write_text(before)
        raise
    log(f"{model_id}: regression sample re-recorded: {values}")
    return values


def _allow_cpu_bf16(bundle_dir: Path) -> None:
    _edit_card(bundle_dir, lambda card: card.__setitem__("inference", {"cpu_bf16": True}))


def _annotate(
    bundle_dir: Path,
    held_out: list,
    precision: dict,
    request: EmbedRequest,
    allow_bf16: bool,
    decision: dict[str, Any] | None,
) -> None:
    """Write the measurements, limits and the reason for being the default onto the card (weights untouched)."""

    def edit(card: dict[str, Any]) -> None:
        card["metrics"] = {**card.get("metrics", {}), "held_out": held_out, "precision": precision}
        if decision is not None:
            card["metrics"]["default_decision"] = decision
        card.pop("inference", None)
        if allow_bf16:
            card["inference"] = {"cpu_bf16": True}
        card["limits"] = request.limits
        if request.default_reason:
            card["default_reason"] = request.default_reason

    _edit_card(bundle_dir, edit)
