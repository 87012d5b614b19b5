"""The shared Lightning module: network, optimiser and schedule, logging, per-volume validation, checkpoints.

Modelled on fastMRI's ``pl_modules/mri_module.py``: a task module only says how to compute its loss, how to
turn a network output back into original units and how to score one volume; this base does the rest.

A batch is a collated :class:`condswin.training.data.SliceSample` (fields ``image``, ``target``, ``volume``,
``slice_index``, ``scale``, ``offset``).
"""

from __future__ import annotations

import abc
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
import torch.distributed as dist

from condswin.errors import UsageError
from condswin.io.jsonvalues import plain
from condswin.losses import build_loss
from condswin.models import build_model
from condswin.training.config import TrainConfig, config_from_dict, config_to_dict
from condswin.training.lineage import images_per_step, run_entry
from condswin.training.modules.volumes import VolumeAccumulator, gather_volume_scores, summarise_volumes
from condswin.training.seeds import epoch_seed

__all__ = ["TaskModule", "ConfigState", "CHECKPOINT_KEY"]

# The checkpoint entry that says which network a checkpoint holds (checked before a resume).
CHECKPOINT_KEY = "condswin"


@dataclass(frozen=True)
class ConfigState:
    """A :class:`TrainConfig` as plain, picklable values (``config_to_dict`` round-trips it exactly)."""

    values: dict[str, Any]
    source: str

    @classmethod
    def of(cls, config: TrainConfig) -> ConfigState:
        """The plain values of ``config``."""
        return cls(config_to_dict(config), config.source)

    def restore(self) -> TrainConfig:
        """The config again."""
        return config_from_dict(self.values, self.source)


class TaskModule(L.LightningModule, abc.ABC):
    """Base of the task modules.

    Subclasses set ``task``, ``monitor`` (+ ``monitor_mode``), ``default_loss`` and ``losses`` and implement
    :meth:`compute_loss`, :meth:`to_original` and :meth:`score_volume`.

    Args:
        config: the run's configuration.
        in_channels: network input channels (from the dataset).
        out_channels: network output channels (from the dataset).

    Raises:
        UsageError: ``optim.loss`` is not a loss of this task, or the model config is refused.
    """

    task: ClassVar[str]
    monitor: ClassVar[str]
    monitor_mode: ClassVar[str] = "max"
    default_loss: ClassVar[str]
    losses: ClassVar[tuple[str, ...]]

    def __init__(self, config: TrainConfig, in_channels: int, out_channels: int):
        super().__init__()
        self.config = config
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.loss_name = config.optim.loss or self.default_loss
        if self.loss_name not in self.losses:
            raise UsageError(
                f"{config.source}: optim.loss: a {self.task} run trains with one of {', '.join(self.losses)}, "
                f"got {self.loss_name!r}"
            )
        try:
            self.net = build_model(
                config.model.name, self.in_channels, self.out_channels, **dict(config.model.overrides)
            )
        except ValueError as exc:  # the architecture's own check of its config (e.g. sizes, heads)
            raise UsageError(f"{config.source}: model: {exc}") from exc
        self.loss_fn = build_loss(self.loss_name)
        self.accumulator = VolumeAccumulator(self.score_volume)
        self._loss_sum, self._loss_count = 0.0, 0
        self._last_step_time: float | None = None
        # the weights' history (condswin.training.lineage): earlier runs, and what this process adds
        self.lineage_before: list[dict[str, Any]] = []
        self.run_info: dict[str, Any] = {"command": "", "data": ""}
        self._run_start_step = 0
        self._run_clock: float | None = None
        self._run_started: str | None = None

    # -- pickling (ddp_spawn sends the module to its processes) ---------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The config travels as plain values: its read-only mappings cannot be pickled."""
        return {**super().__getstate__(), "config": ConfigState.of(self.config)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the config from its plain values."""
        super().__setstate__({**state, "config": state["config"].restore()})  # type: ignore[no-untyped-call]

    # -- what a task defines -------------------------------------------------------------------------------
    @abc.abstractmethod
    def compute_loss(self, output: torch.Tensor, batch: Any) -> torch.Tensor:
        """The training loss of one batch."""
        raise NotImplementedError

    @abc.abstractmethod
    def to_original(self, output: torch.Tensor, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        """(prediction, target) of a batch as numpy arrays in the units the metrics are defined in."""
        raise NotImplementedError

    @abc.abstractmethod
    def score_volume(self, pred: np.ndarray, target: np.ndarray) -> dict[str, float | None]:
        """The metrics of one volume (slices stacked along axis 0); None where a metric is undefined."""
        raise NotImplementedError

    def summarise(self, means: dict[str, float]) -> dict[str, float]:
        """Means over volumes, plus any derived value (e.g. the mean Dice of the classes)."""
        return means

    # -- the network and its description -------------------------------------------------------------------
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The network's output for a (B, C, H, W) batch."""
        return self.net(image)

    def network_output(self, batch: Any) -> torch.Tensor:
        """The network's output for a collated batch (a task whose network needs more than the image overrides it)."""
        return self.net(batch.image)

    def describe(self) -> dict[str, Any]:
        """What the checkpoint holds: task, architecture, channels, the model config and the run config."""
        return {
            "task": self.task,
            "architecture": self.config.model.name,
            "model_config": plain(self.config.model.overrides),
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "config": config_to_dict(self.config),
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record :meth:`describe` (so a resume can refuse a checkpoint of another network up front) and the
        lineage of exactly these weights (so a resume or an export continues their history)."""
        checkpoint[CHECKPOINT_KEY] = {**self.describe(), "lineage": self.lineage_now()}

    # -- lineage -------------------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        """Start this process's lineage entry at the current step (a resumed run continues its step count)."""
        self._run_start_step = int(self.global_step)
        self._run_clock = time.monotonic()
        self._run_started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def lineage_now(self) -> list[dict[str, Any]]:
        """The earlier runs plus this process's entry as of now (steps, images seen, wall time)."""
        steps = max(int(self.global_step) - self._run_start_step, 0)
        world = int(self.trainer.world_size) if self._trainer is not None else 1
        per_step = images_per_step(config_to_dict(self.config)["trainer"], world)
        entry = run_entry(
            command=str(self.run_info.get("command", "")),
            steps=steps,
            images_seen=steps * per_step,
            data=str(self.run_info.get("data", "")),
            wall_s=None if self._run_clock is None else time.monotonic() - self._run_clock,
            started=self._run_started,
            device=self.run_info.get("device"),
            precision=self.run_info.get("precision"),
            init_from=self.run_info.get("init_from"),
        )
        return [*self.lineage_before, entry]

    # -- training ------------------------------------------------------------------------------------------
    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """The network's parameters that training changes: all but those under ``optim.freeze``, which are set
        to need no gradient (so none is computed for them).

        Raises:
            UsageError: a prefix that names no parameter, or one that leaves nothing to train.
        """
        prefixes = tuple(self.config.optim.freeze or ())
        named = list(self.net.named_parameters())
        for prefix in prefixes:
            if not any(name.startswith(prefix) for name, _ in named):
                tops = sorted({name.split(".")[0] + "." for name, _ in named})
                raise UsageError(
                    f"{self.config.source}: optim.freeze: {prefix!r} names no parameter of "
                    f"{self.config.model.name}; its parameters start with {', '.join(tops)}"
                )
        trainable = []
        for name, parameter in named:
            if prefixes and name.startswith(prefixes):
                parameter.requires_grad_(False)
            else:
                trainable.append(parameter)
        if not trainable:
            raise UsageError(f"{self.config.source}: optim.freeze {list(prefixes)} leaves no parameter to train")
        return trainable

    def configure_optimizers(self) -> Any:
        """Adam(lr, weight_decay) with StepLR(step_size, gamma) stepped once per epoch (the schedule of the
        Conditional Swin U-Net notebook)."""
        optim = self.config.optim
        optimizer = torch.optim.Adam(self.trainable_parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=optim.step_size, gamma=optim.gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def on_train_epoch_start(self) -> None:
        """Reseed the global generators from (seed, epoch, rank): see :mod:`condswin.training.seeds`."""
        seed = epoch_seed(self.config.trainer.seed, self.current_epoch, self.global_rank)
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        self._last_step_time = None

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Loss of one batch; logs ``train_loss`` and the throughput ``img_s`` (images/s over all devices)."""
        size = int(batch.image.shape[0])
        loss = self.compute_loss(self.network_output(batch), batch)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=size)
        now = time.perf_counter()
        if self._last_step_time is not None and now > self._last_step_time:
            images = size * self.trainer.world_size
            self.log("img_s", images / (now - self._last_step_time), prog_bar=True, on_step=True, on_epoch=False)
        self._last_step_time = now
        return loss

    # -- validation and test: scored per volume ------------------------------------------------------------
    def _evaluation_start(self) -> None:
        self.accumulator.reset()
        self._loss_sum, self._loss_count = 0.0, 0

    def _evaluation_step(self, batch: Any) -> None:
        output = self.network_output(batch)
        size = int(batch.image.shape[0])
        self._loss_sum += float(self.compute_loss(output, batch)) * size
        self._loss_count += size
        pred, target = self.to_original(output, batch)
        self.accumulator.add(list(batch.volume), [int(i) for i in batch.slice_index], pred, target)

    def _evaluation_end(self, stage: str) -> dict[str, float]:
        scores = gather_volume_scores(self.accumulator.finish())
        loss_sum, loss_count = self._loss_sum, self._loss_count
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            totals = torch.tensor([loss_sum, float(loss_count)], dtype=torch.float64, device=self.device)
            dist.all_reduce(totals)
            loss_sum, loss_count = float(totals[0]), int(totals[1])
        table = summarise_volumes(scores)
        values = {"loss": loss_sum / max(loss_count, 1), **self.summarise({k: s.mean for k, s in table.items()})}
        values.update({f"{k}_std": s.std for k, s in table.items()})  # spread over volumes, as fastMRI reports
        values["volumes"] = float(len(scores))
        # every rank holds the same values (gathered above); sync_dist only averages identical numbers
        for name, value in values.items():
            self.log(
                f"{stage}_{name}", value, prog_bar=name in ("loss", self.monitor.removeprefix("val_")), sync_dist=True
            )
        self.accumulator.reset()
        return values

    def on_validation_epoch_start(self) -> None:
        """Forget slices of an earlier pass (the sanity check sees only part of a volume)."""
        self._evaluation_start()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Buffer the batch's predictions by volume and add to the validation loss."""
        self._evaluation_step(batch)

    def on_validation_epoch_end(self) -> None:
        """Score the remaining volumes, gather all ranks' scores, log ``val_*`` means."""
        self._evaluation_end("val")

    def on_test_epoch_start(self) -> None:
        """As for validation."""
        self._evaluation_start()

    def test_step(self, batch: Any, batch_idx: int) -> None:
        """As for validation."""
        self._evaluation_step(batch)

    def on_test_epoch_end(self) -> None:
        """Log ``test_*`` means over the test volumes."""
        self._evaluation_end("test")
