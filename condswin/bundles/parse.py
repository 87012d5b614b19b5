"""The one parser of model cards: JSON object → checked, typed, frozen :class:`~condswin.bundles.card.ModelCard`.

Checked by hand so that no schema library is needed at run time (``Resources/Models/models.schema.json``
documents the same rules; the tests keep the two in step). Besides types and choices, values that would
make a run allocate absurd amounts of memory are bounded (slice size, pixel size, channels). Every problem
is a :class:`~condswin.bundles.card.BundleError` (exit code 4) naming the card's source and a JSON path.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, NoReturn

from condswin.bundles.card import (
    AXES,
    MODALITIES,
    NORMALIZATION_KINDS,
    POSTPROCESS,
    REPRESENTATIONS,
    REQUIRED_FIELDS,
    TASKS,
    BundleError,
    ModelCard,
    TrainingInfo,
    freeze,
)
from condswin.bundles.contract import (
    MAX_SLICE_SIDE,
    PIXEL_SIZE_RANGE_MM,
    Code,
    Label,
    ModelContract,
    Normalization,
    Terminology,
)

__all__ = ["parse_card", "MAX_CLASSES", "MAX_HU"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Labelmaps are uint8: at most 256 classes (background included).
MAX_CLASSES = 256
# A class score offset beyond this (odds × e^20 ≈ 5e8) no longer weighs a class: it forces or forbids it.
MAX_SCORE_OFFSET = 20.0
# An HU window beyond the range of any CT scanner (int16 storage) is a typo, not a window.
MAX_HU = 32768.0
_KNOWN_FIELDS = (*REQUIRED_FIELDS, "name", "description", "inference")


class _Checker:
    """Raises on the first problem found, phrased with the card's source and a JSON path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str) -> NoReturn:
        raise BundleError(f"{self.source}: {where}: {problem}")

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(where, f"must be a JSON object, got {type(value).__name__}")
        return value

    def string(self, value: Any, where: str, *, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            self.fail(where, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def optional_string(self, value: Any, where: str) -> str | None:
        if value is not None and not isinstance(value, str):
            self.fail(where, f"must be a string, got {type(value).__name__}")
        return value

    def integer(self, value: Any, where: str, *, minimum: int, maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(where, f"must be an integer >= {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            self.fail(where, f"must be at most {maximum}, got {value!r}")
        return value

    def number(self, value: Any, where: str, *, bounds: tuple[float, float] | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(where, f"must be a finite number, got {value!r}")
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            self.fail(where, f"must be between {bounds[0]:g} and {bounds[1]:g}, got {value!r}")
        return float(value)

    def pair(self, value: Any, where: str, *, integer: bool, bounds: tuple[float, float]) -> tuple | None:
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            self.fail(where, f"must be null or two positive numbers [rows, columns], got {value!r}")
        if integer:
            return tuple(
                self.integer(v, f"{where}[{i}]", minimum=int(bounds[0]), maximum=int(bounds[1]))
                for i, v in enumerate(value)
            )
        return tuple(self.number(v, f"{where}[{i}]", bounds=bounds) for i, v in enumerate(value))

    def code(self, value: Any, where: str) -> Code:
        value = self.mapping(value, where)
        return Code(
            scheme=self.string(value.get("codingScheme"), f"{where}.codingScheme"),
            value=self.string(value.get("codeValue"), f"{where}.codeValue"),
            meaning=self.string(value.get("codeMeaning"), f"{where}.codeMeaning"),
        )


def _normalization(check: _Checker, spec: Any, modality: str) -> Normalization:
    spec = check.mapping(spec, "input.normalization")
    kind = check.string(spec.get("kind"), "input.normalization.kind", choices=NORMALIZATION_KINDS)
    if kind == "hu_window":
        if modality != "CT":
            check.fail("input.normalization.kind", "an HU window only makes sense for CT input")
        hu = (-MAX_HU, MAX_HU)
        low = check.number(spec.get("low"), "input.normalization.low", bounds=hu)
        high = check.number(spec.get("high"), "input.normalization.high", bounds=hu)
        if not high > low:
            check.fail("input.normalization", f"high ({high}) must be greater than low ({low})")
        return Normalization.hu_window(low, high)
    # Only the fields the card states are passed: the defaults live in Normalization alone.
    given: dict[str, Any] = {}
    for key in ("lower", "upper"):
        if key in spec:
            given[key] = check.number(spec[key], f"input.normalization.{key}", bounds=(0.0, 100.0))
    if "scope" in spec:
        given["scope"] = check.string(spec["scope"], "input.normalization.scope", choices=("volume", "slice"))
    if "clip" in spec:
        if not isinstance(spec["clip"], bool):
            check.fail("input.normalization.clip", "must be true or false")
        given["clip"] = spec["clip"]
    norm = Normalization(kind="percentile", **given)
    if not norm.lower < norm.upper:
        check.fail("input.normalization", f"percentiles must satisfy lower < upper, got {norm.lower}, {norm.upper}")
    return norm


def _labels(check: _Checker, labels: Any, out_channels: int) -> tuple[Label, ...]:
    if not isinstance(labels, list) or not labels:
        check.fail("output.labels", "a segmentation card needs a non-empty list of labels")
    parsed: list[Label] = []
    highest = out_channels - 1 if out_channels > 1 else 1  # one channel = a binary (sigmoid) output
    for i, label in enumerate(labels):
        where = f"output.labels[{i}]"
        label = check.mapping(label, where)
        value = check.integer(label.get("value"), f"{where}.value", minimum=1)
        if value > highest or value in {p.value for p in parsed}:
            check.fail(f"{where}.value", f"{value} is repeated or not a class of a {out_channels}-channel output")
        name = check.string(label.get("name"), f"{where}.name")
        color = label.get("color")
        if not (
            isinstance(color, list)
            and len(color) == 3
            and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color)
        ):
            check.fail(f"{where}.color", f"must be three integers 0-255, got {color!r}")
        term = check.mapping(label.get("terminology"), f"{where}.terminology")
        region = term.get("region")
        terminology = Terminology(
            category=check.code(term.get("category"), f"{where}.terminology.category"),
            type=check.code(term.get("type"), f"{where}.terminology.type"),
            region=None if region is None else check.code(region, f"{where}.terminology.region"),
        )
        parsed.append(Label(value=value, name=name, color=(color[0], color[1], color[2]), terminology=terminology))
    return tuple(parsed)


def _score_offsets(check: _Checker, offsets: Any, out_channels: int) -> tuple[float, ...]:
    """``output.score_offsets``: absent, or one finite number per channel of a multi-class output."""
    if offsets is None:
        return ()
    where = "output.score_offsets"
    if out_channels < 2:
        check.fail(where, "needs a multi-class output (a one-channel output has no scores to weigh against each other)")
    if not isinstance(offsets, list) or len(offsets) != out_channels:
        check.fail(where, f"must be a list of {out_channels} numbers, one per output channel, got {offsets!r}")
    return tuple(
        check.number(v, f"{where}[{i}]", bounds=(-MAX_SCORE_OFFSET, MAX_SCORE_OFFSET)) for i, v in enumerate(offsets)
    )


def _contract(check: _Checker, card: Mapping[str, Any], task: str, in_channels: int) -> ModelContract:
    spec = check.mapping(card["input"], "input")
    modality = check.string(spec.get("modality"), "input.modality", choices=MODALITIES)
    axis = check.string(spec.get("axis"), "input.axis", choices=AXES)
    normalization = _normalization(check, spec.get("normalization"), modality)
    pixel = check.pair(spec.get("pixel_size_mm"), "input.pixel_size_mm", integer=False, bounds=PIXEL_SIZE_RANGE_MM)
    size = check.pair(spec.get("size"), "input.size", integer=True, bounds=(1, MAX_SLICE_SIDE))
    representation = check.string(
        spec.get("representation", "magnitude"), "input.representation", choices=REPRESENTATIONS
    )
    # The engine feeds magnitude slices as one channel and complex ones as two (real, imaginary).
    wanted = 2 if representation == "complex" else 1
    if in_channels != wanted:
        check.fail(
            "in_channels", f"{representation} input is fed as {wanted} channel(s), but in_channels is {in_channels}"
        )

    output = check.mapping(card["output"], "output")
    out_channels = check.integer(card["out_channels"], "out_channels", minimum=1, maximum=MAX_CLASSES)
    if task == "segmentation":
        labels = _labels(check, output.get("labels"), out_channels)
        postprocess = check.string(output.get("postprocess", "none"), "output.postprocess", choices=POSTPROCESS)
        score_offsets = _score_offsets(check, output.get("score_offsets"), out_channels)
        return ModelContract(
            task=task,
            modality=modality,
            axis=axis,
            normalization=normalization,
            out_channels=out_channels,
            pixel_size_mm=pixel,
            size=size,
            input_representation=representation,
            labels=labels,
            postprocess=postprocess,
            score_offsets=score_offsets,
        )
    out_repr = check.string(output.get("representation", "magnitude"), "output.representation", choices=REPRESENTATIONS)
    if out_channels != (2 if out_repr == "complex" else 1):
        check.fail(
            "out_channels",
            f"a {out_repr} {task} output needs {2 if out_repr == 'complex' else 1} channel(s), got {out_channels}",
        )
    if modality != "MR":
        check.fail("input.modality", f"{task} models take MR input")
    return ModelContract(
        task=task,
        modality=modality,
        axis=axis,
        normalization=normalization,
        out_channels=out_channels,
        pixel_size_mm=pixel,
        size=size,
        input_representation=representation,
        output_representation=out_repr,
    )


def _weights(check: _Checker, card: Mapping[str, Any], require: bool) -> tuple[str | None, str | None]:
    weights = sha256 = None
    if require or "weights" in card:
        weights = check.string(card["weights"], "weights")
        parts = PurePosixPath(weights.replace("\\", "/"))
        if parts.is_absolute() or ".." in parts.parts or not weights.endswith(".safetensors"):
            check.fail("weights", f"must be a relative path to a .safetensors file inside the bundle, got {weights!r}")
    if require or "sha256" in card:
        sha256 = card["sha256"]
        if not isinstance(sha256, str) or not _SHA256.match(sha256):
            check.fail("sha256", f"must be 64 lower-case hex digits, got {sha256!r}")
    return weights, sha256


def parse_card(data: Any, source: str = "model card", *, require_weights: bool = True) -> ModelCard:
    """Check a model card (parsed JSON) and return it as a frozen :class:`ModelCard`.

    Args:
        data: the parsed JSON object (not modified).
        source: the file (or registry entry) it came from, used in error messages.
        require_weights: also require ``weights`` and ``sha256`` (``save_bundle`` fills them itself).

    Returns:
        The typed card; omitted optional fields hold their defaults.

    Raises:
        BundleError: the first problem found, e.g. ``"models.json: models[0]: input.axis: must be one of ..."``.
    """
    check = _Checker(source)
    card = check.mapping(data, "card")
    required = (
        REQUIRED_FIELDS if require_weights else tuple(f for f in REQUIRED_FIELDS if f not in ("weights", "sha256"))
    )
    missing = [name for name in required if name not in card]
    if missing:
        check.fail("card", f"missing field(s) {', '.join(missing)}")
    if not isinstance(card["id"], str) or not _ID.match(card["id"]):
        check.fail(
            "id",
            f"must be 1-100 letters, digits, '.', '_' or '-' (starting with a letter or digit), got {card['id']!r}",
        )
    task = check.string(card["task"], "task", choices=TASKS)
    architecture = check.string(card["architecture"], "architecture")
    config = check.mapping(card["config"], "config")
    if {"in_channels", "out_channels"} & set(config):
        check.fail("config", "in_channels/out_channels belong at the top level of the card, not in config")
    in_channels = check.integer(card["in_channels"], "in_channels", minimum=1, maximum=2)
    weights, sha256 = _weights(check, card, require_weights)
    contract = _contract(check, card, task, in_channels)
    inference = check.mapping(card.get("inference", {}), "inference")
    unknown = sorted(set(inference) - {"cpu_bf16"})
    if unknown:
        check.fail("inference", f"unknown key(s) {', '.join(unknown)}; the only one is cpu_bf16")
    cpu_bf16 = inference.get("cpu_bf16", False)
    if not isinstance(cpu_bf16, bool):
        check.fail("inference.cpu_bf16", f"must be true or false, got {cpu_bf16!r}")
    contract = dataclasses.replace(contract, cpu_bf16=cpu_bf16)
    training = check.mapping(card["training"], "training")
    info = TrainingInfo(
        data=check.string(training.get("data"), "training.data"),
        command=check.string(training.get("command"), "training.command"),
        details=freeze({k: v for k, v in training.items() if k not in ("data", "command")}),
    )
    return ModelCard(
        id=card["id"],
        architecture=architecture,
        config=freeze(config),
        in_channels=in_channels,
        contract=contract,
        training=info,
        metrics=freeze(check.mapping(card["metrics"], "metrics")),
        version=check.string(card["version"], "version"),
        license=check.string(card["license"], "license"),
        weights=weights,
        sha256=sha256,
        name=check.optional_string(card.get("name"), "name"),
        description=check.optional_string(card.get("description"), "description"),
        extras=freeze({k: v for k, v in card.items() if k not in _KNOWN_FIELDS}),
    )
