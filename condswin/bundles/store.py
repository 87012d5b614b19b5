"""Writing and loading model bundles: safetensors weights whose sha256 is checked before anything is loaded.

A bundle is a folder holding ``model_card.json`` and the weights file it names (inside the folder, links
followed). :func:`save_bundle` makes one from a trained network (training calls it); :func:`load_bundle` turns
one back into a network in eval mode, refusing weights whose checksum differs from the card, and a card whose
network is not exactly the tensors of the weights file: names, shapes and the card's storage dtype, compared
with the file's header and a build on torch's ``meta`` device before any real memory is allocated (the config's
size-setting fields are checked against their limits before even that build).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from condswin.bundles.card import CARD_FILENAME, BundleError, ModelCard
from condswin.bundles.parse import parse_card
from condswin.io.atomic import atomic_path, write_json_atomic
from condswin.io.jsonvalues import plain

# `condswin --help` imports this module: torch is imported only when a model is built or counted (lazy).

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "Bundle",
    "LoadedModel",
    "BundleChecksumError",
    "sha256_file",
    "verify_weights",
    "weights_dtype",
    "WEIGHT_DTYPES",
    "build_from_card",
    "save_bundle",
    "load_bundle",
]

_HASH_CHUNK = 1 << 20

# How a card's weights are stored (``weights_dtype``; float32 when absent). Half-precision files halve the
# download and the extension's size; loading always builds a float32 network and upcasts into it.
WEIGHT_DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2}


def weights_dtype(card: ModelCard) -> str:
    """The storage dtype of a card's weights (``float32`` unless the card says ``weights_dtype``).

    Raises:
        BundleError: a dtype this version cannot load.
    """
    dtype = card.extras.get("weights_dtype", "float32")
    if dtype not in WEIGHT_DTYPES:
        raise BundleError(f"model {card.id!r}: weights_dtype {dtype!r} is not one of {', '.join(WEIGHT_DTYPES)}")
    return str(dtype)


class BundleChecksumError(BundleError):
    """The weights file's sha256 differs from the one recorded in the card (tampered or corrupt file)."""


@dataclass(frozen=True)
class Bundle:
    """A validated model card and where it came from.

    Attributes:
        card: the typed, validated card.
        root: folder that relative ``weights`` paths start from.
        source: the JSON file the card was read from (``model_card.json`` or a ``models.json`` registry).
    """

    card: ModelCard
    root: Path
    source: Path

    @property
    def id(self) -> str:
        """The card's ``id``."""
        return self.card.id

    @property
    def task(self) -> str:
        """``segmentation``, ``reconstruction`` or ``denoising``."""
        return self.card.task

    @property
    def weights_path(self) -> Path:
        """Absolute path of the safetensors file."""
        if self.card.weights is None:  # parse_card requires it for every card read from disk
            raise BundleError(f"{self.source}: model '{self.id}' names no weights file")
        return self.root / self.card.weights


@dataclass(frozen=True)
class LoadedModel:
    """A network restored from a bundle, in eval mode, with the card that describes its contract."""

    model: nn.Module
    bundle: Bundle

    @property
    def card(self) -> ModelCard:
        """The bundle's card."""
        return self.bundle.card

    def with_score_offsets(self, offsets: tuple[float, ...]) -> LoadedModel:
        """The same network with the class score offsets ``offsets`` instead of its card's (``()``: none); the
        bundle on disk is not touched. See :attr:`condswin.bundles.contract.ModelContract.score_offsets`.

        Raises:
            ValueError: not one offset per output channel of a multi-class model.
        """
        channels = self.card.contract.out_channels
        if offsets and (channels < 2 or len(offsets) != channels):
            raise ValueError(
                f"{self.card.id} has {channels} output channel(s); give one offset per channel of a multi-class "
                f"model, got {len(offsets)}"
            )
        contract = dataclasses.replace(self.card.contract, score_offsets=tuple(float(v) for v in offsets))
        card = dataclasses.replace(self.card, contract=contract)
        return LoadedModel(model=self.model, bundle=dataclasses.replace(self.bundle, card=card))


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (weights may not fit comfortably in memory twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_weights(bundle: Bundle) -> Path:
    """Check that the bundle's weights file exists and matches the card's sha256.

    Returns:
        The weights path.

    Raises:
        BundleError: the file is missing, or lies outside the bundle's folder once links are followed.
        BundleChecksumError: the checksum differs (the message names the file and both digests).
    """
    path = bundle.weights_path
    if not path.is_file():
        raise BundleError(f"{path}: weights file of model '{bundle.id}' not found (card: {bundle.source})")
    _check_inside_bundle(bundle, path)
    actual = sha256_file(path)
    if actual != bundle.card.sha256:
        raise BundleChecksumError(
            f"{path}: sha256 mismatch for model '{bundle.id}': the card ({bundle.source}) records "
            f"{bundle.card.sha256} but the file has {actual}; the file was modified or is corrupt - "
            "refusing to load it"
        )
    return path


def _check_inside_bundle(bundle: Bundle, path: Path) -> None:
    """Refuse weights that a symbolic link (of the file or of a folder on the way) places outside the bundle.

    The card's ``weights`` is a relative path inside the bundle (:func:`condswin.bundles.parse_card`); the file it
    reaches must be there too, so a bundle copied or embedded elsewhere brings its weights with it and a card
    cannot make condswin read a file of the user's elsewhere on the disk.
    """
    root = bundle.root.resolve()
    target = path.resolve()
    if not target.is_relative_to(root):
        raise BundleError(
            f"{path}: the weights of model '{bundle.id}' are a link to {target}, outside the bundle folder {root}; "
            f"a card's weights must lie inside its bundle (card: {bundle.source})"
        )


def build_from_card(card: ModelCard, source: str = "model card") -> nn.Module:
    """Build the (untrained) network a card describes: ``build_model(architecture, in, out, **config)``.

    Raises:
        BundleError: an unknown architecture or a config it does not accept.
    """
    from condswin.models import build_model  # lazy: torch (see top)

    try:
        return build_model(card.architecture, card.in_channels, card.out_channels, **card.build_kwargs())
    except (TypeError, ValueError) as exc:
        raise BundleError(
            f"{source}: cannot build architecture {card.architecture!r} with config {_short(card.build_kwargs())}: "
            f"{exc}"
        ) from exc


# safetensors' names of the dtypes a weights file may hold: the card's floating dtypes, and the integer and
# boolean ones of buffers that are integer in the network itself (BatchNorm's num_batches_tracked).
_SAFETENSORS_DTYPES = {
    "float32": "F32",
    "float16": "F16",
    "bfloat16": "BF16",
    "float64": "F64",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
}
_LISTED_PER_KIND = 5  # tensors named per kind of difference; the rest are counted


@dataclass(frozen=True)
class _FileTensor:
    """One tensor of a weights file, from its header: safetensors dtype name (``F32``, ``I64``) and shape."""

    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        item = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2}
        count = 1
        for side in self.shape:
            count *= side
        return count * item.get(self.dtype, 1)


def _file_tensors(path: Path) -> dict[str, _FileTensor]:
    """The tensors a safetensors file holds, from its header only (no tensor data is read).

    Raises:
        BundleError: not a readable safetensors file.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return {
                name: _FileTensor(handle.get_slice(name).get_dtype(), tuple(handle.get_slice(name).get_shape()))
                for name in handle.keys()  # noqa: SIM118 - a safetensors handle is not a mapping
            }
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"{path}: not a readable safetensors file: {exc}") from exc


def _meta_skeleton(card: ModelCard, source: str) -> nn.Module | None:
    """The card's network built on torch's ``meta`` device (no memory), or None for an architecture that cannot
    be built there.

    The config's size-setting fields were checked against their limits first (:func:`build_model`), so what is
    built here can be counted; a count that still overflows torch's size arithmetic is a network no file holds.

    Raises:
        BundleError: a field above its limit, a config the architecture refuses, or an uncountable network.
    """
    import torch  # lazy: torch (see top)

    try:
        with torch.device("meta"):
            return build_from_card(card, source)
    except NotImplementedError:
        return None
    except RuntimeError as exc:
        if "overflow" not in str(exc):
            return None  # an architecture that cannot be built on meta: the strict load still checks the keys
        raise BundleError(
            f"{source}: the {card.architecture} config {_short(card.build_kwargs())} describes a network too "
            f"large to count ({exc})"
        ) from exc


def _expected_dtype(tensor: torch.Tensor, stored: str) -> str:
    """The safetensors dtype a network tensor must have in the file: the card's storage dtype for floating
    tensors, the tensor's own dtype for integer and boolean buffers."""
    if tensor.is_floating_point():
        return _SAFETENSORS_DTYPES[stored]
    return _SAFETENSORS_DTYPES.get(str(tensor.dtype).removeprefix("torch."), str(tensor.dtype))


def _describe(name: str, tensor: _FileTensor) -> str:
    return f"{name} ({tensor.dtype} {list(tensor.shape)}, {tensor.nbytes:,} bytes)"


def _listed(kind: str, items: list[str]) -> str:
    more = f" and {len(items) - _LISTED_PER_KIND} more" if len(items) > _LISTED_PER_KIND else ""
    return f"{kind}: {', '.join(items[:_LISTED_PER_KIND])}{more}"


def _tensor_differences(network: nn.Module, in_file: dict[str, _FileTensor], stored: str) -> list[str]:
    """How the weights file differs from the network, per kind: tensors missing from the file, tensors the
    network does not have, tensors of another shape or dtype (each named, with exact sizes); empty when the file
    holds exactly the network's tensors.

    Tensors the network ties together (one object under several names) are stored once, under any of their names.
    """
    groups: dict[int, list[str]] = {}
    tensors: dict[int, torch.Tensor] = {}
    for name, tensor in network.state_dict(keep_vars=True).items():
        groups.setdefault(id(tensor), []).append(name)
        tensors[id(tensor)] = tensor
    missing, shapes, dtypes = [], [], []
    known: set[str] = set()
    for key, names in groups.items():
        known.update(names)
        tensor = tensors[key]
        wanted = _FileTensor(_expected_dtype(tensor, stored), tuple(tensor.shape))
        present = [n for n in names if n in in_file]
        if not present:
            missing.append(_describe(names[0], wanted))
            continue
        for name in present:
            held = in_file[name]
            if held.shape != wanted.shape:
                shapes.append(f"{name} (network {list(wanted.shape)}, file {list(held.shape)})")
            elif held.dtype != wanted.dtype:
                dtypes.append(f"{name} (network {wanted.dtype}, file {held.dtype})")
    extra = [_describe(name, in_file[name]) for name in in_file if name not in known]
    differences = []
    if missing:
        differences.append(_listed(f"{len(missing)} tensor(s) missing from the file", missing))
    if extra:
        differences.append(_listed(f"{len(extra)} tensor(s) the network does not have", extra))
    if shapes:
        differences.append(_listed(f"{len(shapes)} tensor(s) of another shape", shapes))
    if dtypes:
        differences.append(_listed(f"{len(dtypes)} tensor(s) of another dtype", dtypes))
    return differences


def _check_weights_fit(card: ModelCard, network: nn.Module, path: Path, source: str) -> None:
    """Refuse weights that are not exactly the tensors of the card's network, before any of them is loaded.

    Every tensor of the network must be in the file with its shape, floating ones in the card's storage dtype
    (``weights_dtype``; an integer or float64 tensor is not cast into the network), and the file may hold no
    other tensor. ``network`` may be the skeleton on the ``meta`` device, so a card that describes a network of
    terabytes is refused without allocating it.

    Raises:
        BundleError: naming each difference (which tensors, their shapes, dtypes and exact sizes).
    """
    stored = weights_dtype(card)
    in_file = _file_tensors(path)
    differences = _tensor_differences(network, in_file, stored)
    if not differences:
        return
    needed = sum(
        _FileTensor(_expected_dtype(t, stored), tuple(t.shape)).nbytes
        for t in {id(t): t for t in network.state_dict(keep_vars=True).values()}.values()
    )
    held = sum(t.nbytes for t in in_file.values())
    raise BundleError(
        f"{path}: weights do not fit the card's {card.architecture} config {_short(card.build_kwargs())} "
        f"(card: {source}): {'; '.join(differences)}; the network's tensors take {needed:,} bytes in "
        f"{stored}, the file's {held:,} bytes"
    )


def _short(value: Any, limit: int = 300) -> str:
    """``repr`` of a (card's) value, cut to ``limit`` characters: a hostile config may hold a million entries."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]} ...}}"


def load_bundle(bundle: Bundle, device: str | torch.device = "cpu") -> LoadedModel:
    """Verify the checksum, then build the network and load its weights (strictly: every key must match).

    Args:
        bundle: from :func:`condswin.bundles.resolve_bundle` or :func:`condswin.bundles.read_bundle`.
        device: torch device to put the model on; the weights are read from the file straight onto it.

    Returns:
        A :class:`LoadedModel` whose model is in eval mode.

    Raises:
        BundleChecksumError: the weights differ from the card's sha256 (nothing is loaded).
        BundleError: missing weights, an unknown architecture, or weights that do not fit it.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    source = str(bundle.source)
    weights_dtype(bundle.card)  # an unknown storage dtype is refused before the file is read
    path = verify_weights(bundle)
    skeleton = _meta_skeleton(bundle.card, source)
    if skeleton is not None:
        _check_weights_fit(bundle.card, skeleton, path, source)
    model = build_from_card(bundle.card, source)
    if skeleton is None:
        _check_weights_fit(bundle.card, model, path, source)
    model.to(device)  # the freshly built network (some architectures build on the CPU only), before its weights
    try:
        # load_model (not load_state_dict) restores tensors that save_model stored once for several names.
        load_model(model, str(path), strict=True, device=str(device))
    except (SafetensorError, OSError) as exc:
        raise BundleError(f"{path}: not a readable safetensors file: {exc}") from exc
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(
            f"{path}: weights do not fit {bundle.card.architecture} with the card's config: {first}"
        ) from exc
    return LoadedModel(model=model.eval(), bundle=bundle)


def _config_overrides(model: nn.Module) -> tuple[str, dict[str, Any], int, int]:
    """(registry name, config fields that differ from the variant's defaults, in, out channels)."""
    from condswin.models import model_config  # lazy: torch (see top)

    name = getattr(model, "model_name", None)
    config = getattr(model, "config", None)
    if name is None or config is None or not dataclasses.is_dataclass(config):
        raise BundleError(
            "save_bundle needs a network made by condswin.models.build_model (it has no model_name/config)"
        )
    values = plain(config)  # lists, not tuples: a config compares equal to its JSON round trip
    defaults = plain(model_config(name))
    in_channels, out_channels = int(values.pop("in_channels")), int(values.pop("out_channels"))
    # A path to pretrained encoder weights is part of how training started, not of the network: the
    # bundle's own weights already hold the result, and the path will not exist on a user's machine.
    values.pop("pretrained", None)
    overrides = {k: v for k, v in values.items() if v != defaults.get(k)}
    return name, overrides, in_channels, out_channels


def _stored(model: nn.Module, dtype: str) -> nn.Module:
    """The network as it is written: itself for float32, else a copy with floating-point tensors cast."""
    if dtype == "float32":
        return model
    import copy

    import torch  # lazy: torch (see top)

    return copy.deepcopy(model).to(getattr(torch, dtype))


def save_bundle(
    model: nn.Module,
    card: Mapping[str, Any] | ModelCard,
    out_dir: str | os.PathLike,
    *,
    weights_name: str = "model.safetensors",
    overwrite: bool = False,
    dtype: str = "float32",
) -> Path:
    """Write a bundle folder: the model's weights as safetensors plus a card with their sha256.

    ``architecture``, ``config``, ``in_channels`` and ``out_channels`` are taken from the network (a card
    that states them differently is an error); ``weights`` and ``sha256`` are computed. Everything else
    (id, task, input contract, output labels, training, metrics, version, licence) comes from ``card``.
    The folder appears complete or not at all (it is assembled under a temporary name and renamed).

    Args:
        model: a network from :func:`condswin.models.build_model` (trained or not).
        card: the card's JSON fields (e.g. from :func:`condswin.bundles.card_template`) or a
            :class:`ModelCard`; not modified.
        out_dir: the bundle folder to create.
        weights_name: file name of the weights inside the bundle.
        overwrite: replace an existing bundle folder.
        dtype: storage dtype of floating-point weights (``float16`` halves the file; recorded on the card as
            ``weights_dtype``); the network passed in is not changed.

    Returns:
        Path of the written ``model_card.json``.

    Raises:
        BundleError: an invalid card, a network not made by ``build_model``, or ``out_dir`` exists.
    """
    from safetensors.torch import save_model

    fields = card.to_dict() if isinstance(card, ModelCard) else dict(card)
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise BundleError(f"{out_dir}: already exists; pass overwrite=True to replace the bundle")
    name, overrides, in_channels, out_channels = _config_overrides(model)
    derived = {"architecture": name, "config": overrides, "in_channels": in_channels, "out_channels": out_channels}
    for key, value in derived.items():
        if key in fields and plain(fields[key]) != value and key != "config":
            raise BundleError(f"{out_dir}: card says {key}={fields[key]!r} but the network has {value!r}")
    if dtype not in WEIGHT_DTYPES:
        raise BundleError(f"{out_dir}: weights dtype {dtype!r} is not one of {', '.join(WEIGHT_DTYPES)}")
    fields = {**fields, **derived, "weights": weights_name}
    fields.pop("sha256", None)
    fields.pop("weights_dtype", None)
    if dtype != "float32":
        fields["weights_dtype"] = dtype
    parsed = parse_card(fields, f"{out_dir / CARD_FILENAME}", require_weights=False)

    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        # save_model (not save_file) copes with tied/shared tensors and stores each one once.
        save_model(_stored(model, dtype), str(tmp / weights_name))
        complete = parsed.replace(sha256=sha256_file(tmp / weights_name))
        write_json_atomic(complete.to_dict(), tmp / CARD_FILENAME)
    return out_dir / CARD_FILENAME
