"""Registry of named model variants: one place that maps a name to an architecture and its config.

Every part of the project (training, inference, bundles, benchmarks) builds networks only through
:func:`build_model`, so a model card can be turned back into the exact network it describes with
``build_model(card["architecture"], **card["config"])``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from condswin.errors import UsageError
from condswin.lookup import look_up
from condswin.models.validation import check_config_limits

__all__ = ["ModelSpec", "register_model", "build_model", "list_models", "get_model_spec", "model_config"]


@dataclass(frozen=True)
class ModelSpec:
    """A named variant: the config dataclass, the defaults that make this variant, and how to build it.

    Attributes:
        name: registry name, e.g. ``"cswin_light_2l"``.
        config_cls: dataclass holding every hyper-parameter of the architecture family.
        builder: callable ``builder(config) -> nn.Module``.
        defaults: field values that define this variant (others come from the dataclass defaults).
        description: one line shown by ``list_models(verbose=True)`` and ``condswin models``.
        tasks: the jobs the variant is meant for (``segmentation``, ``reconstruction``, ``denoising``).
    """

    name: str
    config_cls: type
    builder: Callable[[Any], nn.Module]
    defaults: dict = field(default_factory=dict)
    description: str = ""
    tasks: tuple[str, ...] = ("segmentation", "reconstruction", "denoising")


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    config_cls: type,
    builder: Callable[[Any], nn.Module],
    description: str = "",
    tasks: tuple[str, ...] = ("segmentation", "reconstruction", "denoising"),
    **defaults: Any,
) -> ModelSpec:
    """Register a named variant. Re-registering a name is an error (two variants must not collide)."""
    if name in _REGISTRY:
        raise ValueError(f"model name {name!r} is already registered")
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"config_cls for {name!r} must be a dataclass, got {config_cls!r}")
    _check_keys(name, config_cls, defaults)
    spec = ModelSpec(name, config_cls, builder, dict(defaults), description, tuple(tasks))
    _REGISTRY[name] = spec
    return spec


def _ensure_builtin_models_loaded() -> None:
    # The architecture modules register themselves on import; importing the package does that.
    import condswin.models  # noqa: F401


def list_models(task: str | None = None) -> list[str]:
    """Names of all registered variants, sorted; only those meant for ``task`` when it is given."""
    _ensure_builtin_models_loaded()
    return sorted(n for n, s in _REGISTRY.items() if task is None or task in s.tasks)


def get_model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``.

    Raises:
        UsageError: an unknown name (the message lists the registered names, with a did-you-mean).
    """
    _ensure_builtin_models_loaded()
    return look_up("model name", name, dict(sorted(_REGISTRY.items())))


def model_config(name: str, **overrides: Any) -> Any:
    """The config dataclass instance that ``build_model(name, **overrides)`` would use.

    Raises:
        UsageError: an unknown key, or a field that sets the network's size above its limit
            (:data:`condswin.models.validation.CONFIG_LIMITS`; checked before the config is even made).
    """
    spec = get_model_spec(name)
    _check_keys(name, spec.config_cls, overrides)
    values = {**spec.defaults, **overrides}
    check_config_limits(name, values)
    return spec.config_cls(**values)


def build_model(name: str, in_channels: int = 1, out_channels: int = 1, **overrides: Any) -> nn.Module:
    """Build the variant ``name`` with ``in_channels``/``out_channels`` and any config overrides.

    Args:
        name: a name from :func:`list_models`.
        in_channels: channels of the input image (1 for CT or magnitude MR, 2 for complex MR as real/imag).
        out_channels: channels of the output (number of classes for segmentation).
        **overrides: any field of the variant's config dataclass (unknown keys are a ``UsageError``).

    Returns:
        The network, in training mode, with its config attached as ``model.config``.

    Raises:
        UsageError: an unknown name or config key, channels that are not positive integers, or a field that
            sets the network's size above its limit (nothing is built then, not even on the meta device).
        ValueError: config values the architecture refuses (checked by its config dataclass).
    """
    for key, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UsageError(f"{key} must be a positive integer, got {value!r}")
    config = model_config(name, in_channels=in_channels, out_channels=out_channels, **overrides)
    model = get_model_spec(name).builder(config)
    model.config = config
    model.model_name = name  # type: ignore[assignment]  # nn.Module's attribute types cover tensors and modules only
    return model


def _check_keys(name: str, config_cls: type, values: dict) -> None:
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(
            f"unknown config key(s) {unknown} for model {name!r}; "
            f"{config_cls.__name__} accepts: {', '.join(sorted(known))}"
        )
