"""Fine-tuning: a run that starts from the weights of an installed or given model bundle (``--init-from``).

The bundle's card says what the weights are: architecture and its config, channels, input and output
contract. The run's config must describe the same network and the same contract — a disagreement is refused
before any data is read, naming the config field — because otherwise the weights would either not load or,
worse, load and be fed inputs they were not trained on (another HU window, another slice size, other labels).
The optimiser and its schedule start fresh; the weights' earlier runs carry over as the run's lineage.

Growing a network (``--extend``): a design that only adds layers to the bundle's network (say
``model.overrides.air_gate=true`` on a residual denoiser) may start from it. Then the model config may differ,
but every tensor of the bundle must load unchanged into a tensor of the same name and shape; the added layers
keep their initialisation, and the lineage entry names them. Task, architecture, channels and contract must
still match.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from condswin.bundles import Bundle, ModelCard, load_bundle, parse_card, resolve_bundle
from condswin.errors import UsageError
from condswin.io.jsonvalues import plain
from condswin.models import model_config
from condswin.training.config import TrainConfig
from condswin.training.data.contract import channels, input_contract, output_contract
from condswin.training.export import build_card
from condswin.training.lineage import lineage_of

__all__ = ["InitSource", "resolve_init_source", "check_init_source", "load_init_weights", "describe_new_tensors"]

# Contract fields a bundle gets when it is embedded, not from its training: an inference permission (cpu_bf16) and
# a calibration of those weights (score_offsets), which a network trained further is exported and scored without.
_SET_AT_EMBEDDING = frozenset({"cpu_bf16", "score_offsets"})


@dataclass(frozen=True)
class InitSource:
    """The bundle a run starts from: what was asked for, the bundle, and the runs behind its weights."""

    spec: str
    bundle: Bundle
    lineage: tuple[dict[str, Any], ...]

    @property
    def label(self) -> str:
        """How the lineage names the start: the model id and the first 12 hex digits of its weights' sha256."""
        sha = self.bundle.card.sha256 or ""
        return f"{self.bundle.id} (sha256 {sha[:12]})"


def resolve_init_source(spec: str) -> InitSource:
    """Find the bundle by id or path (as ``--model`` does).

    Raises:
        BundleNotFoundError: no such id or path (the message lists the installed ids).
        BundleError: an invalid card.
    """
    bundle = resolve_bundle(spec)
    return InitSource(spec=str(spec), bundle=bundle, lineage=tuple(lineage_of(bundle.card)))


def _expected_card(config: TrainConfig) -> ModelCard:
    """The card this run would export, as far as the config decides it (architecture, channels, contract)."""
    data = SimpleNamespace(
        input_contract=input_contract(config), output_contract=output_contract(config), description="-", licences=[]
    )
    card = build_card(config, data, {}, "-")
    in_channels, out_channels = channels(config)
    full = dataclasses.asdict(model_config(config.model.name, **dict(config.model.overrides)))
    card.update(
        architecture=config.model.name,
        config=plain({k: v for k, v in full.items() if k not in ("in_channels", "out_channels")}),
        in_channels=in_channels,
        out_channels=out_channels,
    )
    return parse_card(card, f"{config.source} (the run's model card)", require_weights=False)


def _full_model_config(card: ModelCard) -> dict[str, Any]:
    values = dataclasses.asdict(model_config(card.architecture, **card.build_kwargs()))
    return plain({k: v for k, v in values.items() if k not in ("in_channels", "out_channels")})


def check_init_source(config: TrainConfig, source: InitSource, extend: bool = False) -> None:
    """Refuse a bundle whose network or contract differs from the run's config, naming the first field.

    With ``extend`` the model config may differ (the weights are checked tensor by tensor when they load).

    Raises:
        UsageError: another task, architecture, model config value, channel count or contract field.
    """
    card = source.bundle.card
    where = f"{config.source}: --init-from {source.spec}"
    if card.task != config.task:
        raise UsageError(f"{where}: task: the bundle is a {card.task} model, the config trains {config.task}")
    if card.architecture != config.model.name:
        raise UsageError(
            f"{where}: model.name: the bundle holds {card.architecture!r}, the config builds {config.model.name!r}"
        )
    expected = _expected_card(config)
    ours = _full_model_config(expected)  # both through JSON: tuples and lists compare equal
    theirs = _full_model_config(card)
    for key in sorted(set(ours) | set(theirs)):
        if ours.get(key) != theirs.get(key) and not extend:
            raise UsageError(
                f"{where}: model.overrides.{key}: the bundle's network has {theirs.get(key)!r}, "
                f"the config {ours.get(key)!r}"
            )
    for name in ("in_channels", "out_channels"):
        if getattr(expected, name) != getattr(card, name):
            raise UsageError(
                f"{where}: {name}: the bundle's network has {getattr(card, name)}, the config's data gives "
                f"{getattr(expected, name)}"
            )
    for field in dataclasses.fields(expected.contract):
        if field.name in _SET_AT_EMBEDDING:
            continue
        mine, bundle_value = getattr(expected.contract, field.name), getattr(card.contract, field.name)
        if mine != bundle_value:
            raise UsageError(
                f"{where}: contract field {field.name}: the bundle was trained with {_show(bundle_value)}, "
                f"this config gives {_show(mine)}"
            )


def _show(value: Any) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return repr({k: v for k, v in dataclasses.asdict(value).items() if v is not None})
    if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
        return repr([getattr(v, "name", v) for v in value])
    return repr(value)


def load_init_weights(net: Any, source: InitSource, extend: bool = False, reinit: Sequence[str] = ()) -> list[str]:
    """Copy the bundle's weights (checksum verified first) into ``net``, a network of the same description.

    With ``extend``, ``net`` may hold more tensors than the bundle: those keep their initialisation. Tensors
    whose names start with one of ``reinit`` (e.g. ``net.head``) keep theirs too: a zero-initialised output
    layer restarts at "no correction", which a design change (a new input to the same layers) may need.

    Returns:
        The names of ``net``'s tensors that the bundle did not have (empty without ``extend``).

    Raises:
        BundleChecksumError: the weights file differs from the card's sha256.
        BundleError: unreadable weights.
        UsageError: (``extend``) a bundle tensor without a tensor of the same name and shape in ``net``; a
            ``reinit`` prefix that names no tensor.
    """
    fresh = {
        name: tensor.detach().clone() for name, tensor in net.state_dict().items() if name.startswith(tuple(reinit))
    }
    for prefix in reinit:
        if not any(name.startswith(prefix) for name in fresh):
            raise UsageError(f"--reinit {prefix}: no tensor of the network starts with it")
    weights = load_bundle(source.bundle).model.state_dict()
    if not extend:
        net.load_state_dict(weights, strict=True)
        net.load_state_dict(fresh, strict=False)
        return []
    own = net.state_dict()
    for name, tensor in weights.items():
        if name not in own or own[name].shape != tensor.shape:
            found = "no such tensor" if name not in own else f"shape {tuple(own[name].shape)}"
            raise UsageError(
                f"--init-from {source.spec} --extend: the bundle's tensor {name} {tuple(tensor.shape)} must load "
                f"unchanged, but the config's network has {found}; --extend only adds layers"
            )
    net.load_state_dict(weights, strict=False)
    net.load_state_dict(fresh, strict=False)
    return [name for name in own if name not in weights]


def describe_new_tensors(names: list[str]) -> str:
    """``gate (6 tensors)``-style summary of added tensors, by their first name component."""
    groups: dict[str, int] = {}
    for name in names:
        prefix = name.split(".", 1)[0]
        groups[prefix] = groups.get(prefix, 0) + 1
    return ", ".join(f"{prefix} ({count} tensor{'s' if count != 1 else ''})" for prefix, count in groups.items())
