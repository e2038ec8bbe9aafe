"""The training stream of one benchmark cell: the real training faces (in memory) mixed with a draw
of synthetic faces streamed from a fersyn synthetic set (HDF5), never loaded whole.

A draw takes, per emotion, whole HDF5 chunks of that emotion in random order (then part of the
last one), so reading it costs a few chunk decompressions however large the file is. Synthetic faces
of another size are resized; emotions the real set lacks are dropped. Each epoch visits every real
face and every drawn synthetic face once, in a fresh random order, interleaved at random.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from fersyn.errors import FersynError

if TYPE_CHECKING:
    import tensorflow as tf

log = logging.getLogger("fersyn")

_SHUFFLE_IMAGES = 4096  # synthetic faces read and shuffled together (chunks hold one emotion each)


@dataclass(frozen=True)
class SyntheticDraw:
    """Which rows of the synthetic set one cell trains on (sorted), with their real-set class index."""

    rows: np.ndarray
    labels: np.ndarray
    repeated: int  # rows drawn more than once because an emotion ran out


def balanced_draw(rows_by_class: dict[int, np.ndarray], count: int, rng: np.random.Generator,
                  order: Callable[[np.ndarray], np.ndarray]) -> SyntheticDraw:
    """`count` rows balanced over the classes of `rows_by_class`, each class's rows taken in `order`
    without replacement while they last, then all again; sorted by row."""
    classes = sorted(rows_by_class)
    quota = np.full(len(classes), count // len(classes))
    quota[rng.permutation(len(classes))[: count % len(classes)]] += 1  # who gets the remainder: by chance
    rows, labels, repeated = [], [], 0
    for c, wanted in zip(classes, quota):
        available = rows_by_class[c]
        whole, rest = divmod(int(wanted), len(available))
        rows.append(np.concatenate([available] * whole + [order(available)[:rest]]))
        labels.append(np.full(int(wanted), c))
        repeated += int(wanted) - min(int(wanted), len(available))
    rows, labels = np.concatenate(rows), np.concatenate(labels)
    by_row = np.argsort(rows, kind="stable")
    return SyntheticDraw(rows[by_row], labels[by_row], repeated)


def balanced_rows(labels: np.ndarray, count: int, rng: np.random.Generator) -> SyntheticDraw:
    """`count` indices into `labels`, balanced over the emotions like a synthetic draw: which real faces
    get an augmented copy (the augmentation control), or which unused real faces are added (the positive
    control)."""
    rows_by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    return balanced_draw(rows_by_class, count, rng, rng.permutation)


class SyntheticSource:
    """A fersyn synthetic set opened for reading, its emotions mapped onto the real set's classes."""

    def __init__(self, path: str | Path, emotions: Sequence[str], image_size: int) -> None:
        import h5py

        self.path = Path(path)
        self.image_size = image_size
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as error:
            raise FersynError(f"{self.path}: not a readable fersyn synthetic set ({error}); make one with `fersyn generate`") from None
        try:
            self._open(emotions)
        except BaseException:
            self._file.close()
            raise

    def _open(self, emotions: Sequence[str]) -> None:
        try:
            images, labels = self._file["images"], self._file["labels"]
            self.file_emotions = json.loads(self._file.attrs["emotions"])
            provenance = json.loads(self._file.attrs.get("provenance", "{}"))
            self.provenance = provenance if isinstance(provenance, dict) else {}
            stored = np.asarray(labels[:], dtype=np.int64)
            if images.ndim != 4 or images.dtype != np.uint8 or images.shape[1] != images.shape[2] or images.shape[3] != 1:
                raise ValueError(f"images must be uint8 N×S×S×1, not {images.dtype} {images.shape}")
            if len(images) != len(stored) or len(images) == 0:
                raise ValueError(f"images {images.shape} and labels {stored.shape} do not match")
            if stored.min() < 0 or stored.max() >= len(self.file_emotions):
                raise ValueError("labels outside the 'emotions' attribute")
            images[-1:], images[:1]  # a truncated file fails here, not in the middle of a sweep
            hashes = self._file["training_hashes"][:] if "training_hashes" in self._file else None
            attributes = self._file.attrs
            training_size = json.loads(attributes["training_image_size"]) if "training_image_size" in attributes else None
            if training_size is not None and (not isinstance(training_size, int) or training_size <= 0):
                raise ValueError(f"training_image_size must be a positive whole number, not {training_size!r}")
        except (OSError, KeyError, ValueError, TypeError) as error:
            raise FersynError(
                f"{self.path}: not a readable fersyn synthetic set ({error}); make one with `fersyn generate`"
            ) from None
        # Content hashes of the faces the generators were fitted on, taken at training_image_size: see fersyn.leaks.
        self.training_hashes = None if hashes is None else frozenset(h.decode() if isinstance(h, bytes) else str(h) for h in hashes)
        self.training_image_size: int | None = training_size
        self._images = images
        self.count = len(stored)
        self.stored_size = int(images.shape[1])
        self.chunk = int(images.chunks[0]) if images.chunks else 256
        class_of = {emotion: i for i, emotion in enumerate(emotions)}
        self.dropped = {e: int(np.sum(stored == i)) for i, e in enumerate(self.file_emotions) if e not in class_of}
        classes = np.array([class_of.get(e, -1) for e in self.file_emotions])[stored]
        self.rows_by_class = {c: np.flatnonzero(classes == c) for c in range(len(emotions)) if np.any(classes == c)}
        self.missing = [e for c, e in enumerate(emotions) if c not in self.rows_by_class]
        if not self.rows_by_class:
            raise FersynError(
                f"{self.path} holds {', '.join(self.file_emotions)}; the real data has {', '.join(emotions)}: no emotion in "
                "common (pick `emotions` both have, or another synthetic set)"
            )
        self.fingerprint = self._fingerprint(stored)

    def _fingerprint(self, labels: np.ndarray) -> str:
        """What made the set: its emotions, image shape and provenance without the count (a larger
        sample of the same generators is the same source); for a set without provenance, its labels
        and first chunk too."""
        digest = hashlib.sha256()
        recipe = {k: v for k, v in self.provenance.items() if k != "count"}
        digest.update(json.dumps([self.file_emotions, list(self._images.shape[1:]), recipe], sort_keys=True).encode())
        if not recipe:
            digest.update(labels.tobytes())
            digest.update(np.ascontiguousarray(self._images[: self.chunk]).tobytes())
        return digest.hexdigest()[:16]

    def describe(self) -> str:
        notes = [f"{self.count} faces of {self.stored_size}×{self.stored_size}"]
        if self.stored_size != self.image_size:
            notes.append(f"resized to {self.image_size}×{self.image_size}")
        if self.dropped:
            notes.append("dropped (not in the real set): " + ", ".join(f"{e} {n}" for e, n in self.dropped.items()))
        if self.missing:
            notes.append("has no " + ", ".join(self.missing) + ": mixed faces are balanced over the other emotions")
        return f"{self.path}: " + "; ".join(notes)

    def draw(self, count: int, rng: np.random.Generator) -> SyntheticDraw:
        """`count` rows balanced over the emotions both sets have, without replacement while they last."""
        return balanced_draw(self.rows_by_class, count, rng, lambda rows: self._chunk_order(rows, rng))

    def _chunk_order(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """`rows` grouped by HDF5 chunk, the groups in random order: a prefix touches few chunks."""
        groups = np.split(rows, np.flatnonzero(np.diff(rows // self.chunk)) + 1)
        return np.concatenate([groups[i] for i in rng.permutation(len(groups))])

    def blocks(self, draw: SyntheticDraw, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The drawn faces (uint8, stored size) and labels, a few thousand at a time, in random order;
        each HDF5 chunk is read once."""
        chunk_ids = draw.rows // self.chunk
        starts = np.flatnonzero(np.r_[True, np.diff(chunk_ids) != 0])
        groups = np.split(np.arange(len(draw.rows)), starts[1:])
        per_block = max(1, _SHUFFLE_IMAGES // self.chunk)
        order = rng.permutation(len(groups))
        for first in range(0, len(order), per_block):
            images, labels = [], []
            for g in order[first : first + per_block]:
                members = groups[g]
                base = int(chunk_ids[members[0]]) * self.chunk
                stored = self._images[base : base + self.chunk]
                images.append(stored[draw.rows[members] - base])
                labels.append(draw.labels[members])
            images, labels = np.concatenate(images), np.concatenate(labels)
            shuffle = rng.permutation(len(labels))
            yield images[shuffle], labels[shuffle]

    def close(self) -> None:
        self._file.close()


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
        mixed = mixed.batch(self.batch_size).map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))
        from fersyn.generators.training import quick_teardown

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

        faces = tf.constant(self.real_images)  # copies are made on the fly: memory stays that of the real set
        copies = tf.data.Dataset.from_tensor_slices(
            (np.arange(len(self.augmented.rows)), self.augmented.rows, self.augmented.labels.astype(np.int64)))
        copies = copies.shuffle(len(self.augmented.rows), seed=self.seed, reshuffle_each_iteration=True)
        seed = tf.cast(self.seed, tf.int64)
        return copies.map(lambda copy, row, y: (augment_face(faces[row], tf.stack([seed, tf.cast(copy, tf.int64)])), y),
                          num_parallel_calls=2, deterministic=True)


def augment_face(face: "tf.Tensor", seed: "tf.Tensor") -> "tf.Tensor":
    """A classical augmentation of one uint8 face (H×W×1), the same for the same `seed` (2 ints): a
    horizontal flip half the time, rotation within ±10°, shift within ±3 pixels, brightness within
    ±15 % and contrast between 0.8 and 1.2 — each keeps the face's emotion."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    image = tf.cast(face, tf.float32) / 255.0
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
    return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0), tf.uint8)
