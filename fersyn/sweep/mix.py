"""The training stream of one benchmark cell: the real training faces (in memory) mixed with a draw
of synthetic faces streamed from a fersyn synthetic set (fersyn.data.synthetic.SyntheticSource), never
loaded whole. Synthetic faces of another size are resized; emotions the real set lacks are dropped.
Each epoch visits every real face and every drawn synthetic face once, in a fresh random order,
interleaved at random.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from fersyn.data.pipeline import quick_teardown
from fersyn.data.pixels import from_unit_interval, to_unit_interval
from fersyn.data.synthetic import SyntheticDraw, SyntheticSource, balanced_draw

if TYPE_CHECKING:
    import tensorflow as tf


def balanced_rows(labels: np.ndarray, count: int, rng: np.random.Generator) -> SyntheticDraw:
    """`count` indices into `labels`, balanced over the emotions like a synthetic draw: which real faces
    get an augmented copy (the augmentation control), or which unused real faces are added (the positive
    control)."""
    rows_by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    return balanced_draw(rows_by_class, count, rng, rng.permutation)


@dataclass
class TrainingStream:
    """The batches one cell trains on: real faces plus (optionally) a synthetic draw."""

    real_images: np.ndarray
    real_labels: np.ndarray
    batch_size: int
    seed: int
    source: SyntheticSource | None = None
    draw: SyntheticDraw | None = None
    augmented: SyntheticDraw | None = None  # the augmentation control: rows of the real faces to copy

    @property
    def size(self) -> int:
        return len(self.real_labels) + sum(len(extra.rows) for extra in (self.draw, self.augmented) if extra is not None)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def dataset(self, *, repeat: bool = False) -> "tf.data.Dataset":
        """Batches of (float32 images in [0, 1], int labels); one pass per epoch unless `repeat`."""
        import tensorflow as tf

        parts, weights = [], []
        if len(self.real_labels):
            real = tf.data.Dataset.from_tensor_slices((self.real_images, self.real_labels.astype(np.int64)))
            parts.append(real.shuffle(len(self.real_labels), seed=self.seed, reshuffle_each_iteration=True))
            weights.append(len(self.real_labels))
        if self.draw is not None and len(self.draw.rows):
            parts.append(self._synthetic_dataset())
            weights.append(len(self.draw.rows))
        if self.augmented is not None and len(self.augmented.rows):
            parts.append(self._augmented_dataset())
            weights.append(len(self.augmented.rows))
        if len(parts) == 1:
            mixed = parts[0]
        else:  # interleaved at random in proportion, until both run out: each face once per epoch
            mixed = tf.data.Dataset.sample_from_datasets(
                parts, weights=[w / sum(weights) for w in weights], seed=self.seed, stop_on_empty_dataset=False
            )
        # Tell Keras the epoch length up front (it cannot count a generator's faces until one epoch ends).
        mixed = mixed.apply(tf.data.experimental.assert_cardinality(self.size))
        if repeat:
            mixed = mixed.repeat()
        mixed = mixed.batch(self.batch_size).map(lambda x, y: (to_unit_interval(x), y))
        return mixed.prefetch(2).with_options(quick_teardown())

    def _synthetic_dataset(self) -> "tf.data.Dataset":
        import tensorflow as tf

        source, draw, epochs = self.source, self.draw, iter(range(1 << 62))

        def generate() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            rng = np.random.default_rng([self.seed, next(epochs)])  # a new order every epoch
            yield from source.blocks(draw, rng)

        stored = source.stored_size
        channels = self.real_images.shape[-1]
        blocks = tf.data.Dataset.from_generator(
            generate,
            output_signature=(tf.TensorSpec((None, stored, stored, channels), tf.uint8), tf.TensorSpec((None,), tf.int64)),
        )
        if stored != source.image_size:
            size = source.image_size
            blocks = blocks.map(lambda x, y: (tf.cast(tf.round(tf.clip_by_value(
                tf.image.resize(x, (size, size), antialias=True), 0, 255)), tf.uint8), y))
        return blocks.unbatch()

    def _augmented_dataset(self) -> "tf.data.Dataset":
        """Augmented copies of real faces, each with its own fixed transform (seeded by the copy's
        index): an extra set of images like a synthetic draw, not fresh noise every epoch."""
        import tensorflow as tf

        count = len(self.augmented.rows)
        seeds = np.stack([np.full(count, self.seed), np.arange(count)], axis=1).astype(np.int64)
        copies = tf.data.Dataset.from_tensor_slices(
            (self.real_images[self.augmented.rows], seeds, self.augmented.labels.astype(np.int64)))
        # Made in a tf.data map, as before: made by a tf.function instead (a graph grappler optimises), 1 copy
        # in 30 came out a grey level off.
        copies = copies.map(lambda face, seed, y: (_traced_augment_face()(face, seed), y), num_parallel_calls=2,
                            deterministic=True)
        # Each copy is made once, in the first epoch, and kept (uint8: a few times the copies' faces in memory):
        # made anew every epoch, they took the CPU from the training steps. The shuffle orders the copies as it
        # ordered their indices when each epoch made them, so the stream is the same.
        return copies.cache().shuffle(count, seed=self.seed, reshuffle_each_iteration=True)


@functools.cache
def _traced_augment_face() -> "Callable[[tf.Tensor, tf.Tensor], tf.Tensor]":
    """augment_face traced once for every stream: tracing it anew took longer than making a cell's copies."""
    import tensorflow as tf

    return tf.function(augment_face)


def augment_face(face: "tf.Tensor", seed: "tf.Tensor") -> "tf.Tensor":
    """A classical augmentation of one uint8 face (H×W×1), the same for the same `seed` (2 ints): a
    horizontal flip half the time, rotation within ±10°, shift within ±3 pixels, brightness within
    ±15 % and contrast between 0.8 and 1.2 — each keeps the face's emotion."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    image = to_unit_interval(face)
    image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    angle = tf.random.stateless_uniform([], seeds[1], -10.0, 10.0) * math.pi / 180.0
    shift = tf.random.stateless_uniform([2], seeds[2], -3.0, 3.0)
    size = tf.cast(tf.shape(image)[0], tf.float32)
    centre = (size - 1.0) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Output pixel (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2): rotate about the centre, then shift.
    transform = tf.stack([cos, -sin, centre - cos * centre + sin * centre - shift[0],
                          sin, cos, centre - sin * centre - cos * centre - shift[1], 0.0, 0.0])
    image = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform[None], output_shape=tf.shape(image)[:2], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT")[0]
    image = tf.image.stateless_random_brightness(image, 0.15, seeds[3])
    image = tf.image.stateless_random_contrast(image, 0.8, 1.2, seeds[4])
    return from_unit_interval(image)
