"""Training logs a plugin writes while it fits (`--tensorboard DIR`): scalars such as losses, and grids
of faces every `FACES_EVERY` steps, so that a GAN's training can be watched in TensorBoard.

A plugin reaches its log as `self.training_log` (the contract's hook): the base class writes nothing,
so a plugin may call it whether or not the user asked for a log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

FACES_EVERY = 100  # steps between face grids


class TrainingLog:
    """What a fit may call; this one, used when no log was asked for, writes nothing."""

    active = False  # whether anything is written (a plugin may skip its logging work when not)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Record named numbers (losses, rates) at training step `step`."""

    def wants_faces(self, step: int) -> bool:
        """Whether a face grid is due at `step` (make one only then: it costs a forward pass)."""
        return False

    def faces(self, step: int, name: str, grid: np.ndarray) -> None:
        """Record a grid of faces, uint8 rows × columns × H × W × C, at `step`."""

    def close(self) -> None:
        """Flush what was recorded."""


class TensorBoardLog(TrainingLog):
    """Writes TensorBoard event files into `directory` (read them with `tensorboard --logdir`)."""

    active = True

    def __init__(self, directory: Path, faces_every: int = FACES_EVERY) -> None:
        import tensorflow as tf

        Path(directory).mkdir(parents=True, exist_ok=True)
        self.directory, self.faces_every = Path(directory), faces_every
        self._writer = tf.summary.create_file_writer(str(directory))

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        import tensorflow as tf

        with self._writer.as_default():
            for name, value in values.items():
                tf.summary.scalar(name, float(value), step=step)

    def wants_faces(self, step: int) -> bool:
        return step % self.faces_every == 0

    def faces(self, step: int, name: str, grid: np.ndarray) -> None:
        import tensorflow as tf

        rows, columns, height, width, channels = grid.shape
        tiled = grid.transpose(0, 2, 1, 3, 4).reshape(rows * height, columns * width, channels)
        with self._writer.as_default():
            tf.summary.image(name, tiled[None], step=step)

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()
