"""The methods an evaluation compares: model bundles (by id or path) and the classical baselines of a task.

Every name is resolved, and every bundle loaded (its sha256 checked), before the first case is read, so a typo
or a model of another task ends the run at once with the error family's exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from condswin.errors import ModelError, UsageError
from condswin.lookup import look_up

if TYPE_CHECKING:
    from condswin.bundles import LoadedModel

__all__ = ["Method", "baselines_for", "resolve_methods"]


@dataclass(frozen=True)
class Method:
    """One column of the comparison.

    Attributes:
        name: what tables and figures call it (a model's card id, or the baseline's name).
        loaded: the model, or None for a baseline.
        baseline: the baseline's name (``zero-filled``, ``cs-tv``, ``cs-wavelet`` or a classical denoiser), or None
            for a model.
    """

    name: str
    loaded: LoadedModel | None = None
    baseline: str | None = None

    @property
    def is_model(self) -> bool:
        """True for a learned model."""
        return self.loaded is not None


def baselines_for(task: str) -> tuple[str, ...]:
    """The baseline names a task accepts: zero-filling and compressed sensing for reconstruction, the classical
    denoisers (not the contrast methods such as CLAHE, whose output is not in signal units) for denoising, none for
    segmentation."""
    if task == "reconstruction":
        from condswin.jobs.reconstruction import CLASSICAL_METHODS

        return CLASSICAL_METHODS
    if task == "denoising":
        from condswin.denoise.methods import get_method, list_methods

        return tuple(name for name in list_methods() if not get_method(name).is_contrast)
    return ()


def _load_model(spec: str, task: str) -> LoadedModel:
    from condswin.bundles import load_bundle, resolve_bundle

    # loaded on the CPU: inference moves the network to the device of its options
    loaded = load_bundle(resolve_bundle(spec, task=task), device="cpu")
    if task == "segmentation" and not loaded.card.contract.is_lits:
        raise ModelError(
            f"{loaded.bundle.source}: model '{loaded.card.id}' does not give LiTS labels (1 liver, 2 tumour), "
            "which the reference label maps hold"
        )
    return loaded


def resolve_methods(task: str, models: Sequence[str], baselines: Sequence[str]) -> list[Method]:
    """Load the models and check the baseline names, in the order given (models first).

    Args:
        task: the evaluation's task; every model must be a model of it.
        models: bundle ids or folders (see :func:`condswin.bundles.resolve_bundle`).
        baselines: baseline names (see :func:`baselines_for`).

    Returns:
        The methods.

    Raises:
        UsageError: nothing to evaluate, a baseline the task does not have, or two methods of one name.
        ModelError: an unknown model id or path, a model of another task, a corrupt bundle.
    """
    if not models and not baselines:
        raise UsageError("nothing to evaluate: pass --model ID|PATH and/or --baseline NAME")
    accepted = baselines_for(task)
    if baselines and not accepted:
        raise UsageError(f"--baseline: a {task} evaluation has no baselines; compare models with --model")
    methods = [
        Method(look_up(f"{task} baseline", name, dict(zip(accepted, accepted, strict=True))), baseline=name)
        for name in baselines
    ]
    loaded = [_load_model(spec, task) for spec in models]
    methods = [Method(model.card.id, loaded=model) for model in loaded] + methods
    seen: dict[str, int] = {}
    for method in methods:
        seen[method.name] = seen.get(method.name, 0) + 1
    repeated = [name for name, count in seen.items() if count > 1]
    if repeated:
        raise UsageError(f"{', '.join(repeated)}: given more than once (model ids and baselines must be unique)")
    return methods
