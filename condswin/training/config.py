"""The training configuration: a YAML file (plus ``key=value`` overrides) loaded into frozen, typed sections.

Every key is checked: an unknown one is a :class:`condswin.errors.UsageError` that names the file, the key's
full path and the keys that section accepts, before anything is read or trained. Defaults are the training
recipe of the Conditional Swin U-Net notebook (docs/architecture.md: Adam 1e-4, StepLR γ 0.8, gradient clip 0.5,
dropout 0.2) and live here only; what a run shares with its model card (the HU window, the slice-size bound)
comes from :mod:`condswin.bundles.contract`.

A config looks like::

    task: segmentation
    model: {name: cswin_light_2l, overrides: {dropout: 0.2}}
    data: {kind: phantom, size: [256, 256], train_volumes: 16, val_volumes: 4}
    optim: {lr: 1.0e-4, step_size: 8, gamma: 0.8}
    trainer: {max_epochs: 40, batch_size: 8, precision: bf16-mixed}
    export: {id: lits-cswin-light-2l}

Typical use::

    config = load_config("Training/configs/seg_phantom_cswin_light_2l.yaml", ["trainer.max_epochs=2"])
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from condswin.bundles.contract import DEFAULT_HU_WINDOW, MAX_SLICE_SIDE
from condswin.errors import InputError, InputNotFoundError, UsageError
from condswin.mri.masks import MAX_ACCELERATION

__all__ = [
    "TASKS",
    "DATA_KINDS",
    "ModelSection",
    "AugmentSection",
    "DataSection",
    "OptimSection",
    "TrainerSection",
    "ExportSection",
    "TrainConfig",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "parse_override",
    "read_yaml",
]

TASKS = ("segmentation", "reconstruction", "denoising")

# Lightning's precision names the runs use, and ``auto`` (condswin.training.precision decides per device).
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")

# Which data kinds feed which task (the dataset builders in condswin.training.data follow this table).
DATA_KINDS: dict[str, tuple[str, ...]] = {
    "segmentation": ("phantom", "lits", "decathlon"),
    "reconstruction": ("fastmri", "mr_volumes"),
    "denoising": ("mr_volumes",),
}


@dataclass(frozen=True)
class ModelSection:
    """The network: a registry name and overrides of its config (``build_model(name, **overrides)``).

    The notebook's dropout 0.2 is already the Swin family's config default, so it is not repeated here.
    """

    name: str = "cswin_light_2l"
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AugmentSection:
    """Training-time augmentation of 2-D slices (validation and test data are never augmented).

    Attributes:
        flip: probability of a left-right and (independently) an up-down flip.
        rotate_deg: rotations drawn uniformly from [-rotate_deg, rotate_deg].
        scale: zoom factors drawn from [1 - scale, 1 + scale].
        intensity: relative gain and offset jitter of the normalised intensities (image tasks: input only).
        probability: chance that a sample gets the geometric transform at all.
    """

    flip: float = 0.5
    rotate_deg: float = 10.0
    scale: float = 0.1
    intensity: float = 0.1
    probability: float = 0.8


@dataclass(frozen=True)
class DataSection:
    """Where the slices come from and how they are prepared.

    Attributes:
        kind: ``phantom`` (CT generated on the fly), ``lits`` / ``decathlon`` (CT folders), ``fastmri``
            (single-coil h5 folders), ``mr_volumes`` (NIfTI/NRRD MR folders; k-space simulated or noise added).
        root: dataset folder (for ``fastmri``: the folder holding ``singlecoil_train/`` and ``singlecoil_val/``,
            or the train folder itself with ``val_root`` given).
        val_root: a separate validation folder (else whole volumes of ``root`` are held out).
        liver_shapes: folder of real liver masks (``liver-NNN.nii.gz``) for phantom livers, or None.
        randomize: domain randomisation of phantom CT (per-tissue HU, phase, noise, blur, bias).
        randomize_fraction: with ``randomize``, the share of training samples re-rendered (the others keep the
            phantom's own rendering); 1: every one.
        non_liver_fraction: share of the training phantoms that hold no liver (half heads, half chests above
            the liver; labels 0 everywhere), so that a model learns to leave such scans empty.
        size: (rows, columns) of the training slices (the model card's ``input.size`` for CT).
        train_volumes / val_volumes / test_volumes: phantom volumes generated per split, or, for folders,
            how many whole volumes of ``root`` are held out for validation / test (0 = use ``val_root``).
        slices_per_volume: axial slices drawn from each phantom volume (``None``: all that hold liver).
        split_seed: seed of the volume split and of the phantom seeds.
        hu_window: CT intensity window [low, high] mapped to [0, 1] (default: the segmentation card template's).
        accelerations / center_fractions: fastMRI mask pairs (one drawn per training sample).
        mask_kind: ``random``, ``equispaced``, ``equispaced_fraction`` or ``rect_equispaced``.
        complex_input: reconstruction networks see the complex zero-filled image (2 channels).
        kspace_noise: relative std (of each volume's maximum) of the complex Gaussian noise added to simulated
            k-space; the level of validation and test samples, and of training samples without a range.
        kspace_noise_range: [low, high]: each training sample draws its k-space noise level uniformly from this
            range instead (real scanners differ in noise; one level teaches one); None: ``kspace_noise`` for all.
        synthetic_volumes: ``mr_volumes``: generated piecewise-smooth objects (flat regions, sharp edges, as a
            physical phantom) added to the training volumes (:mod:`condswin.mri.piecewise_phantom`); 0: none.
        noise: ``gaussian``, ``rician`` or ``mixed`` (both, an even draw per training sample; denoising).
        sigma_range: noise σ relative to the volume's maximum, drawn per sample from this range.
        scanner_floor: denoising: [low, high] σ0 (of the volume's maximum) of the Rician noise floor given to the
            *clean* target of every volume whose background is exactly zero (skull-stripped, brain-extracted or
            averaged templates): a real magnitude image's air never is; σ0 drawn per training sample, the middle of
            the range in validation/test. None: targets as read.
        val_sigmas: denoising validation/test: each volume is scored once per σ of this list (relative to its
            maximum), as a case of its own named ``volume@σ``; None: one σ per volume drawn from ``sigma_range``.
        augment: the augmentation section.
        workers: DataLoader worker processes.
        cache_dir: folder for memory-mappable copies of compressed volumes (``.npy``, made once, reused while the
            source file is unchanged); None: ``<trainer.output_dir>/data_cache``.
    """

    kind: str = "phantom"
    root: str | None = None
    val_root: str | None = None
    liver_shapes: str | None = None
    randomize: bool = True
    randomize_fraction: float = 1.0
    non_liver_fraction: float = 0.0
    size: tuple[int, int] = (256, 256)
    train_volumes: int = 16
    val_volumes: int = 4
    test_volumes: int = 0
    slices_per_volume: int | None = 24
    split_seed: int = 0
    hu_window: tuple[float, float] = DEFAULT_HU_WINDOW
    accelerations: tuple[float, ...] = (4.0, 8.0)
    center_fractions: tuple[float, ...] = (0.08, 0.04)
    mask_kind: str = "random"
    complex_input: bool = False
    kspace_noise: float = 0.01
    kspace_noise_range: tuple[float, float] | None = None
    synthetic_volumes: int = 0
    noise: str = "rician"
    sigma_range: tuple[float, float] = (0.01, 0.13)
    scanner_floor: tuple[float, float] | None = None
    val_sigmas: tuple[float, ...] | None = None
    augment: AugmentSection = field(default_factory=AugmentSection)
    workers: int = 2
    cache_dir: str | None = None


@dataclass(frozen=True)
class OptimSection:
    """Optimiser and schedule (seed: Adam 1e-4, StepLR every 5 (fastMRI) / 8 (LiTS) epochs γ 0.8, clip 0.5).

    Attributes:
        freeze: name prefixes of the network's parameters (as its state dict names them, e.g. ``net.`` for the
            inner network of a residual denoiser) that training leaves as they are: no gradient is computed for
            them and the optimiser never sees them. For a fine-tuning run that grows a network (``--extend``) and
            should train only the added layers; each prefix must name at least one parameter. None: nothing frozen.
    """

    lr: float = 1e-4
    weight_decay: float = 0.0
    step_size: int = 5
    gamma: float = 0.8
    grad_clip: float = 0.5
    loss: str | None = None
    freeze: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TrainerSection:
    """The Lightning trainer: devices, precision, length, checkpoints, logs.

    Attributes:
        max_epochs / max_steps: whichever ends first (``max_steps`` -1 = no step limit).
        batch_size: slices per step on each device (the global batch is this × devices × accumulate).
        accumulate: gradient accumulation steps.
        accelerator / devices / num_nodes / strategy: passed to ``lightning.Trainer`` (``auto`` picks DDP for
            several devices; ``torchrun`` and SLURM are detected by Lightning).
        precision: ``auto`` (bf16 mixed where the device has native bf16, else float32:
            :mod:`condswin.training.precision`), ``32-true``, ``bf16-mixed``, ``16-mixed``.
        limit_train_batches / limit_val_batches: fraction or count of batches per epoch (quick runs).
        val_every: validate every this many epochs.
        seed: global seed (``lightning.seed_everything``; workers seeded too).
        output_dir: run folder (checkpoints, CSV log, exported bundle).
        log_every: log every this many steps.
        deterministic: ask torch for deterministic kernels.
        time_budget_min: stop training after this many minutes of this process (0: no limit); the run then
            validates, exports and records ``stopped_by: time budget`` as usual.
        checkpoint_every_min: write ``last.ckpt`` at least this often, mid-epoch if need be (0: epoch ends only).
        ema_decay: keep an exponential moving average of the weights, updated after every step with this decay
            (0: off). Validation, the best checkpoint and the exported bundle then use the average, so a run whose
            validation score oscillates step to step keeps the mean of its recent weights rather than one lucky
            (or unlucky) step; the raw weights stay in each checkpoint, so a resumed run continues both.
    """

    max_epochs: int = 40
    max_steps: int = -1
    batch_size: int = 8
    accumulate: int = 1
    accelerator: str = "auto"
    devices: Any = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    limit_train_batches: float = 1.0
    limit_val_batches: float = 1.0
    val_every: int = 1
    seed: int = 0
    output_dir: str = "runs/default"
    log_every: int = 10
    deterministic: bool = False
    time_budget_min: float = 0.0
    checkpoint_every_min: float = 10.0
    ema_decay: float = 0.0


@dataclass(frozen=True)
class ExportSection:
    """The model bundle written at the end of a run (and by ``--export``)."""

    id: str | None = None
    version: str = "0.1.0"
    license: str = "Apache-2.0"
    description: str = ""


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run. ``source`` is the YAML file it came from (for messages and the model card)."""

    task: str
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)
    export: ExportSection = field(default_factory=ExportSection)
    source: str = "<dict>"


_NON_CONFIG_FIELDS = {"source"}


def _fail(source: str, where: str, problem: str) -> None:
    raise UsageError(f"{source}: {where}: {problem}")


def _convert(value: Any, hint: Any, source: str, where: str) -> Any:
    """Check and coerce one YAML value to the field's type (tuples from lists, floats from ints, ...)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(value, option, source, where)
            except UsageError as exc:
                errors.append(str(exc))
        _fail(source, where, f"expected {' or '.join(getattr(o, '__name__', str(o)) for o in options)}, got {value!r}")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, source, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            _fail(source, where, f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            if not value:
                _fail(source, where, "must not be empty")
            return tuple(_convert(v, args[0], source, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            _fail(source, where, f"expected {len(args)} values, got {len(value)}")
        return tuple(_convert(v, a, source, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin in (Mapping, dict) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            _fail(source, where, f"expected a mapping, got {value!r}")
        return types.MappingProxyType(dict(value))
    if hint is bool:
        if not isinstance(value, bool):
            _fail(source, where, f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(source, where, f"expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            _fail(source, where, f"expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            _fail(source, where, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"config field {where}: unsupported type {hint!r}")  # a bug in this module, not in the YAML


def _build(cls: type, values: Any, source: str, where: str) -> Any:
    """A section dataclass from a mapping; unknown keys are refused with the list of valid ones."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        _fail(source, where or "config", f"expected a mapping of keys, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if f.name not in _NON_CONFIG_FIELDS]
    unknown = [k for k in values if k not in known]
    if unknown:
        prefix = f"{where}." if where else ""
        _fail(
            source,
            f"{prefix}{unknown[0]}",
            f"unknown key; {'this section' if where else 'the top level'} accepts: {', '.join(known)}",
        )
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _convert(value, hints[name], source, f"{where}.{name}" if where else name)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        _fail(source, where or "config", str(exc))


def _check(config: TrainConfig) -> TrainConfig:
    source = config.source
    if config.task not in TASKS:
        _fail(source, "task", f"must be one of {', '.join(TASKS)}, got {config.task!r}")
    kinds = DATA_KINDS[config.task]
    if config.data.kind not in kinds:
        _fail(source, "data.kind", f"a {config.task} run reads one of {', '.join(kinds)}, got {config.data.kind!r}")
    if config.data.kind != "phantom" and not config.data.root:
        _fail(source, "data.root", f"data kind {config.data.kind!r} needs the dataset folder")
    if any(s < 16 or s > MAX_SLICE_SIDE for s in config.data.size):
        _fail(source, "data.size", f"slice size must lie in [16, {MAX_SLICE_SIDE}], got {list(config.data.size)}")
    if len(config.data.accelerations) != len(config.data.center_fractions):
        _fail(source, "data.center_fractions", "needs one centre fraction per acceleration")
    if any(not 1 <= a <= MAX_ACCELERATION for a in config.data.accelerations):
        _fail(
            source,
            "data.accelerations",
            f"must lie in [1, {MAX_ACCELERATION:g}], got {list(config.data.accelerations)}",
        )
    if any(not 0 < c < 1 for c in config.data.center_fractions):
        _fail(source, "data.center_fractions", f"must lie in (0, 1), got {list(config.data.center_fractions)}")
    if config.data.noise not in ("gaussian", "rician", "mixed"):
        _fail(source, "data.noise", f"must be gaussian, rician or mixed, got {config.data.noise!r}")
    low, high = config.data.sigma_range
    if not 0 <= low <= high <= 1:
        _fail(source, "data.sigma_range", f"needs 0 <= low <= high <= 1, got {[low, high]}")
    if not 0 <= config.data.kspace_noise <= 1:
        _fail(
            source, "data.kspace_noise", f"must lie in [0, 1] (of the volume maximum), got {config.data.kspace_noise}"
        )
    if config.data.kspace_noise_range is not None:
        low, high = config.data.kspace_noise_range
        if not 0 <= low <= high <= 1:
            _fail(source, "data.kspace_noise_range", f"needs 0 <= low <= high <= 1, got {[low, high]}")
    if config.data.scanner_floor is not None:
        low, high = config.data.scanner_floor
        if not 0 <= low <= high <= 0.1:
            _fail(source, "data.scanner_floor", f"needs 0 <= low <= high <= 0.1 (of the maximum), got {[low, high]}")
    val_sigmas = config.data.val_sigmas or ()
    if any(not 0 < s <= 1 for s in val_sigmas) or len(set(val_sigmas)) != len(val_sigmas):
        _fail(source, "data.val_sigmas", f"needs distinct values in (0, 1], got {list(val_sigmas)}")
    if not 0 <= config.data.synthetic_volumes <= 1000:
        _fail(
            source, "data.synthetic_volumes", f"must be an integer from 0 to 1000, got {config.data.synthetic_volumes}"
        )
    if config.data.synthetic_volumes and config.data.kind != "mr_volumes":
        _fail(
            source,
            "data.synthetic_volumes",
            f"only data.kind mr_volumes takes generated objects, not {config.data.kind!r}",
        )
    if not 0 < config.data.randomize_fraction <= 1:
        _fail(source, "data.randomize_fraction", f"must lie in (0, 1], got {config.data.randomize_fraction}")
    if not 0 <= config.data.non_liver_fraction < 1:
        _fail(source, "data.non_liver_fraction", f"must lie in [0, 1), got {config.data.non_liver_fraction}")
    if not config.data.hu_window[1] > config.data.hu_window[0]:
        _fail(source, "data.hu_window", f"high must exceed low, got {list(config.data.hu_window)}")
    for name in ("batch_size", "accumulate", "num_nodes", "val_every", "log_every"):
        if getattr(config.trainer, name) < 1:
            _fail(source, f"trainer.{name}", f"must be >= 1, got {getattr(config.trainer, name)}")
    for name in ("time_budget_min", "checkpoint_every_min"):
        if not getattr(config.trainer, name) >= 0:
            _fail(source, f"trainer.{name}", f"must be >= 0 minutes, got {getattr(config.trainer, name)}")
    if not 0 <= config.trainer.ema_decay < 1:
        _fail(source, "trainer.ema_decay", f"must lie in [0, 1) (0: no averaging), got {config.trainer.ema_decay}")
    if config.trainer.precision not in PRECISIONS:
        _fail(source, "trainer.precision", f"must be one of {', '.join(PRECISIONS)}, got {config.trainer.precision!r}")
    if config.trainer.max_epochs < 1 and config.trainer.max_steps < 1:
        _fail(source, "trainer", "max_epochs or max_steps must be positive")
    if not config.optim.lr > 0 or not 0 < config.optim.gamma <= 1 or config.optim.step_size < 1:
        _fail(source, "optim", "needs lr > 0, 0 < gamma <= 1 and step_size >= 1")
    if any(not prefix for prefix in config.optim.freeze or ()):
        _fail(
            source, "optim.freeze", f"needs parameter name prefixes such as net., got {list(config.optim.freeze or ())}"
        )
    # lazy: torch. Training/evaluate.py and Training/campaign.py import this module at start-up, before any training.
    from condswin.models import model_config

    try:
        model_config(config.model.name, **dict(config.model.overrides))
    except ValueError as exc:  # an unknown model name or config key, worded by the registry
        _fail(source, "model", str(exc))
    return config


def config_from_dict(values: Mapping[str, Any], source: str = "<dict>") -> TrainConfig:
    """A checked :class:`TrainConfig` from nested plain values (as YAML gives them).

    Raises:
        UsageError: an unknown key (the message lists the valid ones), a wrong type, or a bad value.
    """
    if "task" not in values:
        _fail(source, "task", f"is required (one of {', '.join(TASKS)})")
    config = _build(TrainConfig, values, source, "")
    return _check(dataclasses.replace(config, source=source))


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"trainer.max_epochs=2"`` → ``(["trainer", "max_epochs"], 2)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"override {text!r}: expected KEY=VALUE, e.g. trainer.max_epochs=2")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise UsageError(f"override {text!r}: the value is not valid YAML ({exc})") from None
    return key.strip().split("."), value


def _apply_override(values: dict[str, Any], path: Sequence[str], value: Any, text: str) -> None:
    node = values
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UsageError(f"override {text!r}: {part} is not a section")
        node = child
    node[path[-1]] = value


def read_yaml(path: str | os.PathLike, what: str) -> Any:
    """The YAML document of a file (``{}`` when empty).

    Raises:
        InputNotFoundError: no such file (the message says ``no such <what>``).
        InputError: not a readable YAML file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no such {what}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: not a readable YAML file ({exc})") from None


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a YAML config and apply ``key.sub=value`` overrides (values parsed as YAML).

    Raises:
        InputNotFoundError / InputError: the file is missing or not YAML.
        UsageError: unknown keys, wrong types or bad values (naming the file and the key).
    """
    path = Path(path)
    values = read_yaml(path, "config file")
    if not isinstance(values, dict):
        raise UsageError(f"{path}: a config must be a mapping of sections, got {type(values).__name__}")
    for text in overrides:
        keys, value = parse_override(text)
        _apply_override(values, keys, value, text)
    return config_from_dict(values, str(path))


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain nested values (YAML/JSON-able) that :func:`config_from_dict` turns back into ``config``."""
    from condswin.io.jsonvalues import plain

    values: dict[str, Any] = plain(config)
    for name in _NON_CONFIG_FIELDS:
        del values[name]
    return values
