"""One training run: data → task module → Lightning ``Trainer`` → best checkpoint → validated → model bundle.

Everything a run needs comes from its :class:`~condswin.training.config.TrainConfig`; the trainer section is
passed to Lightning as is (devices, nodes and strategy — DDP when there are several devices; ``torchrun``
and SLURM environments are detected by Lightning —, precision, accumulation), plus gradient-norm clipping
from ``optim.grad_clip``. Output folder ``trainer.output_dir``::

    checkpoints/best-epoch=…-step=….ckpt   the best on the task's monitored metric (val_dice / val_ssim)
    checkpoints/last.ckpt                  the latest, written after every epoch (resume from it with --resume)
    logs/version_N/metrics.csv             CSV log (TensorBoard events beside it when tensorboard is installed)
    bundle/                                the model bundle of the best checkpoint (unless --export DIR)

Everything that can be checked is checked before the first step: the config (when it was loaded), the
data (the dataset builders), the loss, the model config, the resume checkpoint and the export folder. A run
that fails (or is interrupted) removes the data cache it made and, when it made the run folder and nothing
else is left in it, that folder too; its checkpoints stay, to resume from.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import (
    Callback,
    EMAWeightAveraging,
    LearningRateMonitor,
    ModelCheckpoint,
    TQDMProgressBar,
)
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from torch.utils.data import Dataset

from condswin.errors import InputError, OutputExistsError, UsageError
from condswin.training.checkpoint import check_checkpoint, read_checkpoint
from condswin.training.config import TrainConfig
from condswin.training.data import DataSplits, build_datasets
from condswin.training.data.samples import cache_folder
from condswin.training.export import check_card, export_bundle, training_command
from condswin.training.finetune import (
    check_init_source,
    describe_new_tensors,
    load_init_weights,
    resolve_init_source,
)
from condswin.training.lineage import lineage_record
from condswin.training.loaders import SliceDataModule
from condswin.training.modules import CHECKPOINT_KEY, TaskModule, build_module
from condswin.training.precision import describe_device, resolve_precision
from condswin.training.time_budget import TimeBudget

__all__ = ["TrainingResult", "train", "build_trainer", "DEFAULT_BUNDLE_DIR"]

DEFAULT_BUNDLE_DIR = "bundle"


@dataclass(frozen=True)
class TrainingResult:
    """What a run produced.

    Attributes:
        output_dir: the run folder.
        best_checkpoint: the checkpoint with the best monitored metric (the last one without validation).
        last_checkpoint: the latest checkpoint (to resume from).
        monitor: the monitored metric's name (``val_dice``, ``val_ssim``).
        best_score: its best value, or None without validation.
        metrics: validation (``val_*``) and, with a test split, test (``test_*``) metrics of the best checkpoint.
        bundle: the exported ``model_card.json``, or None (not exported, or not rank 0).
        log_dir: folder of the CSV log.
        global_rank: this process's rank (0 in a single process; only rank 0 exports).
        module: the task module of this process, holding the best checkpoint's weights.
    """

    output_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    monitor: str
    best_score: float | None
    metrics: dict[str, float]
    bundle: Path | None
    log_dir: Path | None
    global_rank: int
    module: TaskModule = field(repr=False, compare=False)


def _batches(value: float) -> float | int:
    # YAML gives floats; Lightning reads 1.0 as "all" and 3 (an int) as "three batches"
    return int(value) if value > 1 and float(value).is_integer() else value


def _loggers(output_dir: Path) -> list[Logger]:
    loggers: list[Logger] = [CSVLogger(save_dir=str(output_dir), name="logs")]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(save_dir=str(output_dir), name="logs"))
    return loggers


LAST_NAME = "last"


@dataclass(frozen=True)
class Checkpoints:
    """The checkpoint callbacks of a run: the best on the task's metric (None without validation) and the latest.

    Two callbacks, because Lightning (2.6) refreshes ``last.ckpt`` of a monitoring callback only in epochs
    whose checkpoint enters the top k — after an epoch that did not improve, ``last.ckpt`` would be stale.
    """

    best: ModelCheckpoint | None
    last: ModelCheckpoint

    @property
    def last_path(self) -> Path:
        """Where the latest checkpoint is written (a fixed name, so a spawned run can find it too)."""
        return Path(self.last.dirpath or "") / f"{LAST_NAME}{self.last.FILE_EXTENSION}"


def build_trainer(
    config: TrainConfig, module: TaskModule, validate: bool, callbacks: list[Callback] | None = None
) -> tuple[L.Trainer, Checkpoints]:
    """The Lightning trainer of a run and its checkpoint callbacks.

    Args:
        config: the run's configuration (``trainer`` and ``optim.grad_clip``).
        module: the task module (its ``monitor`` picks the best checkpoint).
        validate: whether the run has validation data (else the latest checkpoint counts as best).
        callbacks: further callbacks (tests use them to record losses).

    Returns:
        ``(trainer, checkpoints)``.
    """
    trainer_config = config.trainer
    output_dir = Path(trainer_config.output_dir)
    folder = str(output_dir / "checkpoints")
    best = None
    if validate:
        best = ModelCheckpoint(
            dirpath=folder, filename="best-{epoch:03d}-{step}", monitor=module.monitor, mode=module.monitor_mode
        )
    # saved at the end of every training epoch (after its validation), overwriting the previous one
    last = ModelCheckpoint(
        dirpath=folder, filename=LAST_NAME, save_top_k=1, save_on_train_epoch_end=True, enable_version_counter=False
    )
    checkpoints = Checkpoints(best, last)
    budget = TimeBudget(
        budget_s=trainer_config.time_budget_min * 60.0,
        checkpoint_every_s=trainer_config.checkpoint_every_min * 60.0,
        checkpoint_path=checkpoints.last_path,
    )
    # Lightning's averaging: validation swaps the average in, a checkpoint's ``state_dict`` holds it (the raw weights
    # go to ``current_model_state``), so the best checkpoint and the exported bundle are the average's
    averaging = [EMAWeightAveraging(decay=trainer_config.ema_decay)] if trainer_config.ema_decay > 0 else []
    trainer = L.Trainer(
        accelerator=trainer_config.accelerator,
        devices=trainer_config.devices,
        num_nodes=trainer_config.num_nodes,
        strategy=trainer_config.strategy,
        # a name of config.PRECISIONS (checked when the config was read), not one of Lightning's literal types
        precision=resolve_precision(trainer_config.precision, trainer_config.accelerator),  # type: ignore[arg-type]
        max_epochs=trainer_config.max_epochs,
        max_steps=trainer_config.max_steps,
        accumulate_grad_batches=trainer_config.accumulate,
        gradient_clip_val=config.optim.grad_clip or None,
        gradient_clip_algorithm="norm",
        limit_train_batches=_batches(trainer_config.limit_train_batches),
        limit_val_batches=_batches(trainer_config.limit_val_batches),
        check_val_every_n_epoch=trainer_config.val_every,
        log_every_n_steps=trainer_config.log_every,
        deterministic=trainer_config.deterministic,
        default_root_dir=str(output_dir),
        # the best first: it is trainer.checkpoint_callback, whose best path a spawned run brings back
        callbacks=[
            *([best] if best else []),
            last,
            budget,
            *averaging,
            LearningRateMonitor("epoch"),
            TQDMProgressBar(),
            *(callbacks or []),
        ],
        logger=_loggers(output_dir),
        # the data module shards by rank itself (see condswin.training.loaders); Lightning must not re-wrap
        use_distributed_sampler=False,
    )
    return trainer, checkpoints


def _recorded_lineage(checkpoint: dict[str, Any]) -> list[dict[str, Any]] | None:
    recorded = checkpoint.get(CHECKPOINT_KEY)
    lineage = recorded.get("lineage") if isinstance(recorded, dict) else None
    return list(lineage) if isinstance(lineage, list) else None


def _stop_reason(trainer: L.Trainer) -> str:
    """Why the run ended: ``time budget``, ``max_steps``/``max_epochs`` (whichever Lightning reached)."""
    callbacks = trainer.callbacks  # type: ignore[attr-defined]  # set by Lightning when the trainer is built
    budget = next((c for c in callbacks if isinstance(c, TimeBudget)), None)
    if budget is not None and budget.stopped:
        return "time budget"
    return "max_steps" if 0 < trainer.max_steps <= trainer.global_step else "max_epochs"


def _slices(split: Dataset | None) -> int:
    """How many slices a split holds (0 for none)."""
    return 0 if split is None else len(split)  # type: ignore[arg-type]  # every split dataset has a length


def _check_export_dir(export_dir: Path | None) -> None:
    if export_dir is not None and export_dir.exists():
        raise OutputExistsError(f"{export_dir}: the export folder already exists; choose another or remove it")


@contextlib.contextmanager
def _made_folders_removed_on_failure(config: TrainConfig) -> Iterator[None]:
    """Remove, when the block fails, the data cache it made (decompressed copies of the volumes, possibly
    gigabytes, of no use without the run) and the run folder it made if nothing else was left there.

    Folders that existed before (a cache shared by runs, a run being resumed) are left as they were, and so is
    whatever else the run wrote: its checkpoints, to resume from, and its logs.
    """
    cache = cache_folder(config)
    output_dir = Path(config.trainer.output_dir)
    made_cache, made_output = not cache.exists(), not output_dir.exists()
    try:
        yield
    except BaseException:
        if made_cache:
            shutil.rmtree(cache, ignore_errors=True)
        if made_output and output_dir.is_dir() and not any(output_dir.iterdir()):
            output_dir.rmdir()
        raise


def _leaves_no_cache_on_failure(run: Callable[..., TrainingResult]) -> Callable[..., TrainingResult]:
    """Run ``run(config, ...)`` inside :func:`_made_folders_removed_on_failure`."""

    @functools.wraps(run)
    def guarded(config: TrainConfig, *args: Any, **kwargs: Any) -> TrainingResult:
        with _made_folders_removed_on_failure(config):
            return run(config, *args, **kwargs)

    return guarded


@_leaves_no_cache_on_failure
def train(
    config: TrainConfig,
    *,
    splits: DataSplits | None = None,
    resume: str | os.PathLike | None = None,
    init_from: str | None = None,
    extend: bool = False,
    reinit: Sequence[str] = (),
    export_dir: str | os.PathLike | None = None,
    export: bool = True,
    command: str | None = None,
    callbacks: list[Callback] | None = None,
) -> TrainingResult:
    """Train, pick the best checkpoint, measure it on the validation (and test) split, export it as a bundle.

    Args:
        config: the run's configuration.
        splits: a :class:`condswin.training.data.DataSplits` (built from ``config`` when None).
        resume: a checkpoint of the same network to continue from (exactly: optimiser, schedule, epoch).
        init_from: a model bundle (id or folder) whose weights the run starts from, with a fresh optimiser
            (:mod:`condswin.training.finetune`); its lineage continues in the exported card.
        extend: with ``init_from``, the config's network may add layers to the bundle's (every bundle tensor
            must load unchanged; the added ones keep their initialisation).
        reinit: with ``init_from``, name prefixes of tensors that keep their initialisation instead of the
            bundle's (e.g. ``net.head``: a zero-initialised output layer restarts at "no correction").
        export_dir: where the bundle goes (must not exist); default ``<output_dir>/bundle`` (replaced).
        export: write a bundle at all.
        command: the training command for the model card (default: this process's command line).
        callbacks: further Lightning callbacks.

    Returns:
        A :class:`TrainingResult`.

    Raises:
        UsageError: a bad loss or model config, fewer validation volumes than processes, ``resume`` and
            ``init_from`` together, or an ``init_from`` bundle whose network or contract differs from the config.
        BundleNotFoundError / BundleError: no such ``init_from`` bundle, or weights that fail their checksum.
        InputError: no usable data, or an unreadable resume checkpoint.
        ModelError: a resume checkpoint of another network, or a model card that would be invalid
            (e.g. ``export.id``), both checked before training.
        OutputExistsError: ``export_dir`` exists.
    """
    L.seed_everything(config.trainer.seed, workers=True)
    export_path = Path(export_dir) if export_dir is not None else None
    _check_export_dir(export_path)
    if resume is not None and init_from is not None:
        raise UsageError(
            "--resume continues a run exactly (optimiser included) and --init-from starts a new run from a "
            "bundle's weights: give one of them"
        )
    if extend and init_from is None:
        raise UsageError("--extend grows the network of an --init-from bundle: give --init-from too")
    if reinit and init_from is None:
        raise UsageError(
            "--reinit keeps some of an --init-from bundle's tensors at their initialisation: give --init-from too"
        )
    source = None
    if init_from is not None:  # checked against the config before any data is read
        source = resolve_init_source(init_from)
        check_init_source(config, source, extend)
    if splits is None:
        splits = build_datasets(config)
    if _slices(splits.train) == 0:
        raise InputError(f"{config.source}: data: the training split holds no slices")
    module = build_module(config, splits.in_channels, splits.out_channels)
    command = command or training_command()
    if export:
        check_card(config, splits, module.net, command)
    module.run_info = {
        "command": command,
        "data": splits.description,
        "device": describe_device(config.trainer.accelerator),
        "precision": resolve_precision(config.trainer.precision, config.trainer.accelerator),
    }
    if source is not None:
        added = load_init_weights(module.net, source, extend, reinit)
        module.lineage_before = list(source.lineage)
        module.run_info["init_from"] = source.label
        if added:
            module.run_info["init_from"] += f"; layers added: {describe_new_tensors(added)}"
        if reinit:
            module.run_info["init_from"] += f"; re-initialised: {', '.join(reinit)}"
    module.trainable_parameters()  # a freeze prefix that names nothing fails here, before any training
    if resume is not None:
        recorded = check_checkpoint(resume, module).get(CHECKPOINT_KEY)
        if isinstance(recorded, dict) and isinstance(recorded.get("lineage"), list):
            module.lineage_before = list(recorded["lineage"])  # up to the checkpoint, this run's part included
    validate = _slices(splits.val) > 0
    has_test = _slices(splits.test) > 0
    trainer, checkpoints = build_trainer(config, module, validate, callbacks)
    data = SliceDataModule(config, splits.train, splits.val if validate else None, splits.test if has_test else None)

    trainer.fit(module, datamodule=data, ckpt_path=None if resume is None else str(resume), weights_only=True)

    # read before validate(): restoring the best checkpoint also restores the callbacks' state of that epoch
    last = str(checkpoints.last_path) if checkpoints.last_path.is_file() else None
    best = (checkpoints.best.best_model_path if checkpoints.best else None) or last
    epochs, steps = int(trainer.current_epoch), int(trainer.global_step)
    metrics: dict[str, float] = {}
    best_state: dict[str, Any] = {}
    if best:
        if validate:
            results = trainer.validate(module, datamodule=data, ckpt_path=best, verbose=False, weights_only=True)
            metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}
        if has_test:  # the held-out volumes, scored once, with the best checkpoint
            results = trainer.test(module, datamodule=data, ckpt_path=best, verbose=False, weights_only=True)
            metrics.update({k: float(v) for k, v in (results[0] if results else {}).items()})
        # the best weights in this process too (a spawned validation leaves the parent's module as it was)
        if Path(best).is_file():  # (without a shared file system, only the first node has it)
            best_state = read_checkpoint(best)
            module.load_state_dict(best_state["state_dict"])
    bundle = None
    if export and best and trainer.is_global_zero:
        target = export_path or Path(config.trainer.output_dir) / DEFAULT_BUNDLE_DIR
        details = {
            "epochs": epochs,
            "steps": steps,
            "checkpoint": Path(best).name,
            "checkpoint_epoch": int(best_state.get("epoch", -1)),
            "checkpoint_step": int(best_state.get("global_step", -1)),
            "monitor": module.monitor,
            "devices": int(trainer.world_size),
            "stopped_by": _stop_reason(trainer),
            # the history of exactly the exported weights, as their checkpoint recorded it
            "lineage": lineage_record(_recorded_lineage(best_state) or module.lineage_now()),
        }
        bundle = export_bundle(
            module.net,
            config,
            splits,
            metrics,
            target,
            command=command,
            details=details,
            overwrite=export_path is None,
        )
    return TrainingResult(
        output_dir=Path(config.trainer.output_dir),
        best_checkpoint=Path(best) if best else None,
        last_checkpoint=Path(last) if last else None,
        monitor=module.monitor,
        best_score=metrics.get(module.monitor),
        metrics=metrics,
        bundle=bundle,
        log_dir=None if trainer.logger is None or trainer.logger.log_dir is None else Path(trainer.logger.log_dir),
        global_rank=int(trainer.global_rank),
        module=module,
    )
