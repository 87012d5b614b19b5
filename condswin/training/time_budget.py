"""A wall-clock budget for a training process, and a checkpoint every few minutes.

Lightning's own ``max_time`` is restored from a checkpoint on resume, so a resumed run would inherit the
time already spent; a campaign gives each process its own budget instead. Epoch-end checkpoints alone are
not enough either: an epoch can last longer than a machine is lent, so the latest weights are also written
to ``last.ckpt`` every ``checkpoint_every_s`` and when a SIGTERM arrives (Lightning then stops after the
batch; the checkpoint written here is what a later run resumes from).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

__all__ = ["TimeBudget"]


class TimeBudget(Callback):
    """Stop training after ``budget_s`` seconds of this process (0: no limit); checkpoint periodically.

    Args:
        budget_s: seconds of training (from the first batch of this process); 0 or less for none.
        checkpoint_every_s: write ``checkpoint_path`` at least this often; 0 or less for never.
        checkpoint_path: the run's ``last.ckpt``.
    """

    def __init__(self, budget_s: float, checkpoint_every_s: float, checkpoint_path: Path):
        self.budget_s = float(budget_s)
        self.checkpoint_every_s = float(checkpoint_every_s)
        self.checkpoint_path = Path(checkpoint_path)
        self.stopped = False
        self._start: float | None = None
        self._last_save: float | None = None

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        """Start this process's clock."""
        self._start = self._last_save = time.monotonic()
        self.stopped = False

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Checkpoint when due or when a SIGTERM arrived; ask Lightning to stop when the budget is spent."""
        now = time.monotonic()
        start = self._start if self._start is not None else now
        last = self._last_save if self._last_save is not None else now
        sigterm = bool(getattr(trainer, "received_sigterm", False))
        due = self.checkpoint_every_s > 0 and now - last >= self.checkpoint_every_s
        if due or sigterm:
            trainer.save_checkpoint(str(self.checkpoint_path))
            self._last_save = now
        if self.budget_s > 0 and now - start >= self.budget_s:
            self.stopped = True
            trainer.should_stop = True
