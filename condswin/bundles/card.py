"""Model cards: the JSON description that turns a weights file back into a usable model.

A card says what the network is (registry ``architecture`` + ``config`` overrides + channels), where its
weights are and their sha256, what input it expects (modality, slicing axis, normalisation, in-plane pixel
size or matrix size), what it outputs (labels with terminology for segmentation), how it was trained and
what it measured. ``Resources/Models/models.schema.json`` is the same contract as JSON Schema;
:func:`validate_card` checks it by hand so that no schema library is needed at run time (the tests keep the
two in step).

Relative ``weights`` paths are relative to the folder holding the JSON file the card was read from (a
bundle's ``model_card.json``, or ``Resources/Models/models.json`` for embedded models).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from condswin.errors import ModelError

__all__ = [
    "BundleError",
    "CARD_FILENAME",
    "TASKS",
    "AXES",
    "MODALITIES",
    "NORMALIZATION_KINDS",
    "LITS_LABELS",
    "REQUIRED_FIELDS",
    "card_template",
    "validate_card",
]

CARD_FILENAME = "model_card.json"
TASKS = ("segmentation", "reconstruction", "denoising")
AXES = ("axial", "coronal", "sagittal", "slice")
MODALITIES = ("CT", "MR")
NORMALIZATION_KINDS = ("hu_window", "percentile")
REPRESENTATIONS = ("magnitude", "complex")
POSTPROCESS = ("none", "liver")
REQUIRED_FIELDS = (
    "id",
    "task",
    "architecture",
    "config",
    "in_channels",
    "out_channels",
    "weights",
    "sha256",
    "input",
    "output",
    "training",
    "metrics",
    "version",
    "license",
)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BundleError(ModelError):
    """A model card, registry or weights file that cannot be used; the message names the file."""


def _code(scheme: str, value: str, meaning: str) -> dict[str, str]:
    return {"codingScheme": scheme, "codeValue": value, "codeMeaning": meaning}


# LiTS labels with the DICOM/SNOMED CT terminology Slicer's segment editor uses for them.
LITS_LABELS: list[dict[str, Any]] = [
    {
        "value": 1,
        "name": "liver",
        "color": [221, 130, 101],
        "terminology": {
            "category": _code("SCT", "123037004", "Anatomical Structure"),
            "type": _code("SCT", "10200004", "Liver"),
            "region": None,
        },
    },
    {
        "value": 2,
        "name": "liver tumor",
        "color": [144, 238, 144],
        "terminology": {
            "category": _code("SCT", "49755003", "Morphologically Altered Structure"),
            "type": _code("SCT", "108369006", "Neoplasm"),
            "region": _code("SCT", "10200004", "Liver"),
        },
    },
]


class _Checker:
    """Collects the first problem found, phrased with the card's source and a JSON path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str) -> None:
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

    def integer(self, value: Any, where: str, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(where, f"must be an integer >= {minimum}, got {value!r}")
        return value

    def number(self, value: Any, where: str) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or value != value
            or abs(value) == float("inf")
        ):
            self.fail(where, f"must be a finite number, got {value!r}")
        return float(value)

    def pair(self, value: Any, where: str, *, integer: bool) -> None:
        if value is None:
            return
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            self.fail(where, f"must be null or two positive numbers [rows, columns], got {value!r}")
        for i, v in enumerate(value):
            if integer:
                self.integer(v, f"{where}[{i}]", minimum=1)
            elif self.number(v, f"{where}[{i}]") <= 0:
                self.fail(f"{where}[{i}]", f"must be > 0, got {v!r}")


def _check_normalization(check: _Checker, norm: Any, modality: str) -> None:
    norm = check.mapping(norm, "input.normalization")
    kind = check.string(norm.get("kind"), "input.normalization.kind", choices=NORMALIZATION_KINDS)
    if kind == "hu_window":
        if modality != "CT":
            check.fail("input.normalization.kind", "an HU window only makes sense for CT input")
        low = check.number(norm.get("low"), "input.normalization.low")
        high = check.number(norm.get("high"), "input.normalization.high")
        if not high > low:
            check.fail("input.normalization", f"high ({high}) must be greater than low ({low})")
    else:
        lower = check.number(norm.get("lower", 0.5), "input.normalization.lower")
        upper = check.number(norm.get("upper", 99.5), "input.normalization.upper")
        if not 0.0 <= lower < upper <= 100.0:
            check.fail(
                "input.normalization", f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}"
            )
        check.string(norm.get("scope", "volume"), "input.normalization.scope", choices=("volume", "slice"))
        if not isinstance(norm.get("clip", False), bool):
            check.fail("input.normalization.clip", "must be true or false")


def _check_labels(check: _Checker, labels: Any, out_channels: int) -> None:
    if not isinstance(labels, list) or not labels:
        check.fail("output.labels", "a segmentation card needs a non-empty list of labels")
    seen: set[int] = set()
    highest = out_channels - 1 if out_channels > 1 else 1  # one channel = a binary (sigmoid) output
    for i, label in enumerate(labels):
        where = f"output.labels[{i}]"
        label = check.mapping(label, where)
        value = check.integer(label.get("value"), f"{where}.value", minimum=1)
        if value > highest or value in seen:
            check.fail(f"{where}.value", f"{value} is repeated or not a class of a {out_channels}-channel output")
        seen.add(value)
        check.string(label.get("name"), f"{where}.name")
        color = label.get("color")
        if not (
            isinstance(color, list) and len(color) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in color)
        ):
            check.fail(f"{where}.color", f"must be three integers 0-255, got {color!r}")
        term = check.mapping(label.get("terminology"), f"{where}.terminology")
        for part in ("category", "type", "region"):
            code = term.get(part)
            if code is None and part == "region":
                continue
            code = check.mapping(code, f"{where}.terminology.{part}")
            for key in ("codingScheme", "codeValue", "codeMeaning"):
                check.string(code.get(key), f"{where}.terminology.{part}.{key}")


def validate_card(card: Any, source: str = "model card", *, require_weights: bool = True) -> dict[str, Any]:
    """Check a model card and return a normalised deep copy (defaults filled in).

    Args:
        card: the parsed JSON object.
        source: the file (or registry entry) it came from, used in error messages.
        require_weights: also require ``weights`` and ``sha256`` (``save_bundle`` fills them itself).

    Returns:
        A new dict; the input is not modified.

    Raises:
        BundleError: the first problem found, e.g. ``"models.json: models[0].input.axis: must be one of ..."``.
    """
    check = _Checker(source)
    card = copy.deepcopy(dict(check.mapping(card, "card")))
    required = (
        REQUIRED_FIELDS if require_weights else tuple(f for f in REQUIRED_FIELDS if f not in ("weights", "sha256"))
    )
    missing = [name for name in required if name not in card]
    if missing:
        check.fail("card", f"missing field(s) {', '.join(missing)}")
    if not _ID.match(str(card["id"])):
        check.fail(
            "id",
            f"must be 1-100 letters, digits, '.', '_' or '-' (starting with a letter or digit), got {card['id']!r}",
        )
    task = check.string(card["task"], "task", choices=TASKS)
    check.string(card["architecture"], "architecture")
    check.mapping(card["config"], "config")
    if {"in_channels", "out_channels"} & set(card["config"]):
        check.fail("config", "in_channels/out_channels belong at the top level of the card, not in config")
    check.integer(card["in_channels"], "in_channels", minimum=1)
    out_channels = check.integer(card["out_channels"], "out_channels", minimum=1)
    if require_weights or "weights" in card:
        weights = check.string(card["weights"], "weights")
        parts = PurePosixPath(weights.replace("\\", "/"))
        if parts.is_absolute() or ".." in parts.parts or not weights.endswith(".safetensors"):
            check.fail("weights", f"must be a relative path to a .safetensors file inside the bundle, got {weights!r}")
    if require_weights or "sha256" in card:
        if not isinstance(card["sha256"], str) or not _SHA256.match(card["sha256"]):
            check.fail("sha256", f"must be 64 lower-case hex digits, got {card['sha256']!r}")

    contract = check.mapping(card["input"], "input")
    modality = check.string(contract.get("modality"), "input.modality", choices=MODALITIES)
    check.string(contract.get("axis"), "input.axis", choices=AXES)
    _check_normalization(check, contract.get("normalization"), modality)
    check.pair(contract.get("pixel_size_mm"), "input.pixel_size_mm", integer=False)
    check.pair(contract.get("size"), "input.size", integer=True)
    representation = contract.get("representation", "magnitude")
    check.string(representation, "input.representation", choices=REPRESENTATIONS)
    if representation == "complex" and card["in_channels"] != 2:
        check.fail("input.representation", "complex input needs in_channels = 2 (real, imaginary)")

    output = check.mapping(card["output"], "output")
    if task == "segmentation":
        _check_labels(check, output.get("labels"), out_channels)
        check.string(output.get("postprocess", "none"), "output.postprocess", choices=POSTPROCESS)
    else:
        out_repr = output.get("representation", "magnitude")
        check.string(out_repr, "output.representation", choices=REPRESENTATIONS)
        if out_channels != (2 if out_repr == "complex" else 1):
            check.fail(
                "out_channels",
                f"a {out_repr} {task} output needs {2 if out_repr == 'complex' else 1} channel(s), got {out_channels}",
            )
        if modality != "MR":
            check.fail("input.modality", f"{task} models take MR input")

    training = check.mapping(card["training"], "training")
    check.string(training.get("data"), "training.data")
    check.string(training.get("command"), "training.command")
    check.mapping(card["metrics"], "metrics")
    check.string(card["version"], "version")
    check.string(card["license"], "license")
    return card


def card_template(card_id: str, task: str, *, training_data: str = "", training_command: str = "") -> dict[str, Any]:
    """A card with the usual contract of a task, for :func:`condswin.bundles.save_bundle` to complete.

    Defaults: segmentation — CT, axial slices, HU window [-100, 400], slices resized to 256×256 (the seed's
    training size), LiTS labels with terminology, liver post-processing; reconstruction and denoising — MR,
    the stored slices, volume percentile scaling (0–99.5 % for k-space reconstructions, whose background is
    zero; 0.5–99.5 % for denoising), magnitude in and out. Change any field before saving; the training
    fields must be filled in (an empty one fails validation), and ``metrics`` should be.

    Args:
        card_id: the model id.
        task: ``segmentation``, ``reconstruction`` or ``denoising``.
        training_data: what the model was trained on.
        training_command: the exact command that trained it.

    Returns:
        A new card dict without ``architecture``/``config``/channels/weights (taken from the network).
    """
    if task not in TASKS:
        raise BundleError(f"card_template: task must be one of {', '.join(TASKS)}, got {task!r}")
    if task == "segmentation":
        contract: dict[str, Any] = {
            "modality": "CT",
            "axis": "axial",
            "normalization": {"kind": "hu_window", "low": -100.0, "high": 400.0},
            "pixel_size_mm": None,
            "size": [256, 256],
        }
        output: dict[str, Any] = {"labels": copy.deepcopy(LITS_LABELS), "postprocess": "liver"}
    else:
        lower = 0.0 if task == "reconstruction" else 0.5
        contract = {
            "modality": "MR",
            "axis": "slice",
            "normalization": {"kind": "percentile", "lower": lower, "upper": 99.5, "scope": "volume"},
            "pixel_size_mm": None,
            "size": None,
            "representation": "magnitude",
        }
        output = {"representation": "magnitude"}
    return {
        "id": card_id,
        "task": task,
        "input": contract,
        "output": output,
        "training": {"data": training_data, "command": training_command},
        "metrics": {},
        "version": "0.1.0",
        "license": "Apache-2.0",
    }
