"""Quality on held-out data: every embedded model of a task beside its baselines, via ``run_evaluation``.

The work is :func:`condswin.training.evaluation.run_evaluation` (the same code as ``Training/evaluate.py``):
per-volume metrics, mean ± std over volumes. Each evaluation is one (task, dataset) pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from condswin.training.evaluation.denoising import NOISY_INPUT  # the row every denoising evaluation adds

DENOISE_BASELINES = ("gaussian", "nlm", "tv", "wavelet", "bm3d")
DENOISE_SIGMAS = (0.025, 0.05, 0.10)
ACCELERATIONS = (4.0, 8.0)


@dataclass(frozen=True)
class Evaluation:
    """One table of the report: what it scores, on which data, and under which settings."""

    key: str
    title: str
    task: str
    data: Path
    kind: str | None = None
    baselines: tuple[str, ...] = ()
    accelerations: tuple[float, ...] | None = None
    sigmas: tuple[float, ...] | None = None
    noise: str | None = None


def mean_of(evaluation: dict | None, method: str, setting: str, *path: str) -> float | None:
    """A mean from the ``means`` of one :func:`run` result (method → setting → metric; per class for labels)."""
    value: Any = (evaluation or {}).get("means", {}).get(method, {}).get(setting)
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, (int, float)) else None


def models_of(task: str) -> list[str]:
    """Ids of the installed models of ``task``, the default first."""
    from condswin.bundles import discover_bundles
    from condswin.bundles.registry import default_bundle

    bundles = [b for b in discover_bundles()[0] if b.task == task]
    if not bundles:
        return []
    default = default_bundle(task).id
    return [default] + [b.id for b in bundles if b.id != default]


def evaluations(folders: dict[str, Path], quick: bool) -> list[Evaluation]:
    """The tables to measure, given the datasets available."""
    sigmas = (0.05,) if quick else DENOISE_SIGMAS
    baselines = ("gaussian", "tv") if quick else DENOISE_BASELINES
    plan = [
        Evaluation(
            "seg_phantoms",
            "Segmentation, fresh phantoms (unseen seeds, drawn livers)",
            "segmentation",
            folders["phantoms"],
            kind="lits",
        )
    ]
    if "phantoms_test_split" in folders:
        plan.append(
            Evaluation(
                "seg_test_split",
                "Segmentation, the default model's held-out test phantoms "
                "(real LiTS liver shapes never seen in training)",
                "segmentation",
                folders["phantoms_test_split"],
                kind="lits",
            )
        )
    if "real_ct" in folders:
        plan.append(
            Evaluation(
                "seg_real_ct",
                "Segmentation, real CT of ../shared/data/ct (liver labels only)",
                "segmentation",
                folders["real_ct"],
                kind="lits",
            )
        )
    if "mr_heldout" in folders:
        plan.append(
            Evaluation(
                "recon_mr",
                "Reconstruction, held-out real brain MR (k-space simulated)",
                "reconstruction",
                folders["mr_heldout"],
                kind="mr_volumes",
                baselines=("zero-filled",),
                accelerations=ACCELERATIONS,
            )
        )
    if "kspace" in folders:
        plan.append(
            Evaluation(
                "recon_kspace",
                "Reconstruction, real phantom k-space (fastMRI schema)",
                "reconstruction",
                folders["kspace"],
                kind="fastmri",
                baselines=("zero-filled",),
                accelerations=ACCELERATIONS,
            )
        )
    if "mr_heldout" in folders:  # Rician noise, as in magnitude MR; the "gaussian" baseline is the Gaussian filter
        plan.append(
            Evaluation(
                "denoise_rician",
                "Denoising, held-out real brain MR, Rician noise",
                "denoising",
                folders["mr_heldout"],
                kind="mr_volumes",
                baselines=baselines,
                sigmas=sigmas,
                noise="rician",
            )
        )
    return plan


def run(
    plan: list[Evaluation], work: Path, log: Any = print, models: dict[str, list[str]] | None = None
) -> dict[str, dict[str, Any]]:
    """Run every evaluation; ``{key: {"title", "markdown", "means", "seconds", "models"}}`` (means: method →
    setting → metric). ``models`` (task → bundle ids or folders) replaces the installed models of a task."""
    import time

    from condswin.evaluation.tables import markdown_tables
    from condswin.lits import LITS_CLASSES
    from condswin.metrics import means
    from condswin.training.evaluation import EvaluationRequest, run_evaluation

    results: dict[str, dict[str, Any]] = {}
    for item in plan:
        chosen = (models or {}).get(item.task)
        chosen = models_of(item.task) if chosen is None else chosen
        if not chosen and not item.baselines:
            results[item.key] = {"title": item.title, "markdown": f"No {item.task} model is installed.\n", "means": {}}
            continue
        log(f"quality: {item.title} ({', '.join([*chosen, *item.baselines])})")
        request = EvaluationRequest(
            task=item.task,
            data=item.data,
            kind=item.kind,
            models=tuple(chosen),
            baselines=item.baselines,
            accelerations=item.accelerations,
            sigmas=item.sigmas,
            noise=item.noise,
            out=work / item.key,
            montage_cases=0,
            hd95=False,
            overwrite=True,
            device="cpu",
        )
        start = time.perf_counter()
        result = run_evaluation(request, log=lambda line: log("  " + line))
        method_means: dict[str, dict[str, dict[str, Any]]] = {}
        for row in result.summary:
            method_means.setdefault(row.method, {})[row.setting] = means(row.stats)
        classes = list(LITS_CLASSES.values()) if item.task == "segmentation" else []
        results[item.key] = {
            "title": item.title,
            "markdown": markdown_tables(item.task, result.summary, classes).replace("### ", "#### "),
            "means": method_means,
            "seconds": time.perf_counter() - start,
            # the models' card ids, in the order given (the default first), without the baselines
            "models": [
                m for m in dict.fromkeys(r.method for r in result.summary) if m not in (*item.baselines, NOISY_INPUT)
            ],
        }
    return results
