"""Model cards: the typed description that turns a weights file back into a usable model.

A card says what the network is (registry ``architecture`` + ``config`` overrides + channels), where its
weights are and their sha256, what input it expects (modality, slicing axis, normalisation, in-plane pixel
size or matrix size), what it outputs (labels with terminology for segmentation), how it was trained and
what it measured. On disk it is JSON (``Resources/Models/models.schema.json``);
:func:`condswin.bundles.parse_card` checks that JSON once and returns a frozen :class:`ModelCard`, which
everything else (engine, jobs, command line, training) reads by attribute. :meth:`ModelCard.to_dict` gives
the JSON back, with every default filled in.

Relative ``weights`` paths are relative to the folder holding the JSON file the card was read from (a
bundle's ``model_card.json``, or ``Resources/Models/models.json`` for embedded models).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from condswin.bundles.contract import LITS_LABELS, Label, ModelContract, default_normalization
from condswin.errors import ModelError

__all__ = [
    "AXES",
    "BundleError",
    "CARD_FILENAME",
    "MODALITIES",
    "ModelCard",
    "NORMALIZATION_KINDS",
    "POSTPROCESS",
    "REPRESENTATIONS",
    "REQUIRED_FIELDS",
    "TASKS",
    "TrainingInfo",
    "card_template",
    "freeze",
    "thaw",
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


class BundleError(ModelError):
    """A model card, registry or weights file that cannot be used; the message names the file."""


def freeze(value: Any) -> Any:
    """A read-only deep copy of parsed JSON: objects become mapping proxies, arrays tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The JSON form of a :func:`freeze` result (a fresh, mutable copy)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class TrainingInfo:
    """How the model was trained.

    Attributes:
        data: what it was trained on.
        command: the exact command that trained it.
        details: any further fields of the card's ``training`` object (epochs, seed, ...), read-only.
    """

    data: str
    command: str
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, Any]:
        """The card's ``training`` object."""
        return {"data": self.data, "command": self.command, **thaw(self.details)}


@dataclass(frozen=True)
class ModelCard:
    """A validated model card (made by :func:`condswin.bundles.parse_card`; frozen, nested JSON read-only).

    Attributes:
        id: the model id (letters, digits, ``.``, ``_``, ``-``).
        architecture: a name from :func:`condswin.models.list_models`.
        config: overrides of the architecture's config (``build_model(architecture, in, out, **config)``).
        in_channels: network input channels (1 for magnitude, 2 for complex input).
        contract: the input/output contract (task, normalisation, grid, representations, labels).
        training: how it was trained.
        metrics: what it measured (free-form JSON object).
        version / license: the model's version and licence.
        weights: relative path of the safetensors file, or None before :func:`condswin.bundles.save_bundle`.
        sha256: hex digest of the weights, or None before saving.
        name / description: optional human-readable text.
        extras: top-level card fields this version does not know, kept so a card survives a round trip.
    """

    id: str
    architecture: str
    config: Mapping[str, Any]
    in_channels: int
    contract: ModelContract
    training: TrainingInfo
    metrics: Mapping[str, Any]
    version: str
    license: str
    weights: str | None = None
    sha256: str | None = None
    name: str | None = None
    description: str | None = None
    extras: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def task(self) -> str:
        """``segmentation``, ``reconstruction`` or ``denoising``."""
        return self.contract.task

    @property
    def out_channels(self) -> int:
        """Network output channels."""
        return self.contract.out_channels

    @property
    def labels(self) -> tuple[Label, ...]:
        """The classes of a segmentation output (empty for the other tasks)."""
        return self.contract.labels

    @property
    def title(self) -> str:
        """The description, else the name, else the empty string (for listings)."""
        return self.description or self.name or ""

    def build_kwargs(self) -> dict[str, Any]:
        """``config`` as plain keyword arguments for :func:`condswin.models.build_model`."""
        return thaw(self.config)

    def replace(self, **changes: Any) -> ModelCard:
        """A copy with some fields changed (the card itself is frozen)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON (defaults filled in), fields in the schema's order; a fresh, mutable dict."""
        card: dict[str, Any] = {"id": self.id, "task": self.task}
        if self.name is not None:
            card["name"] = self.name
        if self.description is not None:
            card["description"] = self.description
        card.update(
            architecture=self.architecture,
            config=thaw(self.config),
            in_channels=self.in_channels,
            out_channels=self.out_channels,
        )
        if self.weights is not None:
            card["weights"] = self.weights
        if self.sha256 is not None:
            card["sha256"] = self.sha256
        card.update(
            input=self.contract.input_dict(),
            output=self.contract.output_dict(),
        )
        if self.contract.cpu_bf16:
            card["inference"] = {"cpu_bf16": True}
        card.update(
            training=self.training.to_dict(),
            metrics=thaw(self.metrics),
            version=self.version,
            license=self.license,
        )
        card.update(thaw(self.extras))
        return card


def card_template(card_id: str, task: str, *, training_data: str = "", training_command: str = "") -> dict[str, Any]:
    """A card with the usual contract of a task, for :func:`condswin.bundles.save_bundle` to complete.

    Defaults: segmentation — CT, axial slices, the default HU window, slices resized to 256×256 (the
    Conditional Swin U-Net notebook's training size), LiTS labels with terminology, liver post-processing;
    reconstruction and denoising — MR, the stored slices, volume percentile scaling
    (:func:`condswin.bundles.contract.default_normalization`), magnitude in and out. Change any field before saving; the training fields must be filled in (an empty
    one fails validation), and ``metrics`` should be.

    Args:
        card_id: the model id.
        task: ``segmentation``, ``reconstruction`` or ``denoising``.
        training_data: what the model was trained on.
        training_command: the exact command that trained it.

    Returns:
        A new card dict without ``architecture``/``config``/channels/weights (taken from the network).

    Raises:
        BundleError: an unknown task.
    """
    if task not in TASKS:
        raise BundleError(f"card_template: task must be one of {', '.join(TASKS)}, got {task!r}")
    contract: dict[str, Any] = {
        "modality": "CT" if task == "segmentation" else "MR",
        "axis": "axial" if task == "segmentation" else "slice",
        "normalization": default_normalization(task).to_dict(),
        "pixel_size_mm": None,
        "size": [256, 256] if task == "segmentation" else None,
        "representation": "magnitude",
    }
    if task == "segmentation":
        output: dict[str, Any] = {"labels": [label.to_dict() for label in LITS_LABELS], "postprocess": "liver"}
    else:
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
