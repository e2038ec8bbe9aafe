"""Progress lines: how far training is and how long it has left.

`StepProgress` (a GAN's fit) and `CellProgress` (a benchmark cell) are Keras callbacks; they are made
on first use, so that importing this module (for `format_duration`, `SweepProgress`) needs no TensorFlow.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

    from fersyn.sweep.spec import Cell

log = logging.getLogger("fersyn")


def format_duration(seconds: float) -> str:
    """`125.3` → `2m05s`."""
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


class SweepProgress:
    """Logs, after each validation round, the cell, its round, and the time left for the whole run."""

    def __init__(self, planned_steps: list[int], *, exact: bool, folds: int = 1) -> None:
        self.planned, self.exact, self.folds = planned_steps, exact, folds
        self.done_steps, self.training_seconds = 0, 0.0

    def for_cell(self, number: int, cell: "Cell") -> "keras.callbacks.Callback":
        """The callback of cell `number` (1-based) of the planned ones."""
        return _callbacks()["CellProgress"](self, number, cell)


@functools.cache
def _callbacks() -> dict[str, type]:
    import keras

    class StepProgress(keras.callbacks.Callback):
        """Logs steps done, speed, losses and time left about every 10 % of `steps` or 30 s."""

        def __init__(self, label: str, steps: int, already: int = 0) -> None:
            super().__init__()
            self.label, self.steps, self.already = label, steps, already
            self.every = max(1, steps // 10)

        def on_train_begin(self, logs=None) -> None:
            self.started = self.last = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs=None) -> None:
            done, now = batch + 1, time.perf_counter()
            if done % self.every and now - self.last < 30 and done != self.steps:
                return
            self.last = now
            rate = done / (now - self.started)
            losses = " ".join(f"{k} {float(v):.3f}" for k, v in (logs or {}).items())
            log.info("%s: step %d/%d, %.1f steps/s, %s, %s left", self.label, self.already + done,
                     self.already + self.steps, rate, losses, format_duration((self.steps - done) / rate))

    class CellProgress(keras.callbacks.Callback):
        """One benchmark cell's rounds, with the time left for the whole sweep (`SweepProgress`)."""

        def __init__(self, sweep: SweepProgress, number: int, cell: "Cell") -> None:
            super().__init__()
            self.sweep, self.number, self.cell = sweep, number, cell

        # Only epoch-end hooks: a per-batch hook would make Keras sync after every step.
        def on_train_begin(self, logs=None) -> None:
            self.started, self.steps = time.perf_counter(), 0

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            sweep, number = self.sweep, self.number
            self.steps += self.params["steps"] or 0
            elapsed = time.perf_counter() - self.started
            rate = (sweep.done_steps + self.steps) / max(sweep.training_seconds + elapsed, 1e-9)
            left_steps = max(sweep.planned[number - 1] - self.steps, 0) + sum(sweep.planned[number:])
            log.info("[cell %d/%d] %s: %s %d/%d, val loss %.3f · time left %s%s", number, len(sweep.planned),
                     self.cell.describe(sweep.folds), "round" if sweep.exact else "epoch", epoch + 1,
                     self.params["epochs"], (logs or {}).get("val_loss", float("nan")), "" if sweep.exact else "≤ ",
                     format_duration(left_steps / max(rate, 1e-9)))

        def on_train_end(self, logs=None) -> None:
            self.sweep.done_steps += self.steps
            self.sweep.training_seconds += time.perf_counter() - self.started

    return {"StepProgress": StepProgress, "CellProgress": CellProgress}


def __getattr__(name: str) -> Any:
    if name in ("StepProgress", "CellProgress"):
        return _callbacks()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
