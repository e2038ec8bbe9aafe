"""The synthetic set on disk: one HDF5 file, written in chunks.

Layout: `images` uint8 N×H×W×C (chunked, gzip), `labels` int16 N (indices into the `emotions`
attribute), `identity` int64 N (which sampled identity each face came from), `training_hashes` (one
content hash per real face the generators were fitted on, fixed-length ASCII: the blake2b hex digest
of its exact uint8 pixels, see fersyn.data.duplicates.image_hashes; they let a benchmark prove that
no validation or test face reached the generators, whatever the data's folder is called, see
fersyn.data.leaks), `training_names` (the names of those faces: file paths relative to the dataset, CSV
rows; for people reading the file). Attributes hold JSON: `provenance` (plugins, options, seeds,
data fingerprint, package versions), the quality `metrics`, and `training_image_size` (the side of
the faces the training hashes were taken of).

A benchmark reads it back with SyntheticSource, its emotions mapped onto the real set's classes. A
draw takes, per emotion, whole HDF5 chunks of that emotion in random order (then part of the last
one), so reading it costs a few chunk decompressions however large the file is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from fersyn.data.duplicates import image_hashes
from fersyn.errors import FersynError

_CHUNK = 256  # images per HDF5 chunk: small enough to stream, large enough to compress well
_SHUFFLE_IMAGES = 4096  # synthetic faces read and shuffled together (chunks hold one emotion each)


def balanced_counts(count: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """`count` split over `classes` as evenly as can be: count // classes each, and one more for
    count % classes of them chosen by `rng` — at random rather than the first ones, so that no emotion
    is favoured across seeds and cells; a seeded `rng` makes it reproducible. What `fersyn generate`
    writes and what a benchmark draws are balanced by this one rule."""
    quota = np.full(classes, count // classes)
    quota[rng.permutation(classes)[: count % classes]] += 1
    return quota


class SyntheticWriter:
    """Append labelled faces to a new HDF5 file without holding them all in memory."""

    def __init__(self, path: str | Path, image_shape: tuple[int, int, int], emotions: Sequence[str]) -> None:
        import h5py

        self.file = h5py.File(path, "w")
        self.image_shape = tuple(image_shape)
        self.emotions = list(emotions)
        self.file.attrs["emotions"] = json.dumps(self.emotions)
        self.images = self.file.create_dataset(
            "images", (0, *image_shape), maxshape=(None, *image_shape), dtype="uint8",
            chunks=(_CHUNK, *image_shape), compression="gzip", compression_opts=4,
        )
        self.labels = self.file.create_dataset("labels", (0,), maxshape=(None,), dtype="int16", chunks=(4096,))
        self.identity = self.file.create_dataset("identity", (0,), maxshape=(None,), dtype="int64", chunks=(4096,))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def append(self, images: np.ndarray, emotion: str, identity: np.ndarray) -> None:
        if len(images) == 0:
            return
        start, stop = len(self), len(self) + len(images)
        for dataset in (self.images, self.labels, self.identity):
            dataset.resize(stop, axis=0)
        self.images[start:stop] = images
        self.labels[start:stop] = self.emotions.index(emotion)
        self.identity[start:stop] = identity

    def set_training_names(self, names: Sequence[str]) -> None:
        """Record which real faces the generators were fitted on (by name)."""
        import h5py

        self.file.create_dataset("training_names", data=np.array(names, dtype=object),
                                 dtype=h5py.string_dtype(), compression="gzip")

    def set_training_faces(self, images: np.ndarray) -> None:
        """Record which real faces (uint8 N×S×S×C, as fitted) the generators were fitted on, by content:
        a renamed copy of the data has the same hashes."""
        hashes = np.char.encode(image_hashes(images), "ascii")  # fixed-length bytes: compact, any h5py reads them
        self.file.create_dataset("training_hashes", data=hashes, compression="gzip")
        self.set_attributes(training_image_size=int(images.shape[1]))

    def set_attributes(self, **attributes: Any) -> None:
        for key, value in attributes.items():
            self.file.attrs[key] = json.dumps(value)

    def close(self) -> None:
        self.file.close()


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
    quota = balanced_counts(count, len(classes), rng)
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


class SyntheticSource:
    """A fersyn synthetic set opened for reading, its emotions mapped onto the real set's classes."""

    def __init__(self, path: str | Path, emotions: Sequence[str], image_size: int) -> None:
        import h5py

        self.path = Path(path)
        self.image_size = image_size
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as error:
            raise _unreadable(self.path, error) from None
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
            metrics = json.loads(self._file.attrs.get("metrics", "{}"))
            self.metrics = metrics if isinstance(metrics, dict) else {}  # what `fersyn generate` measured of it
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
            raise _unreadable(self.path, error) from None
        # Content hashes of the faces the generators were fitted on, taken at training_image_size: see fersyn.data.leaks.
        self.training_hashes = None if hashes is None else frozenset(h.decode() if isinstance(h, bytes) else str(h) for h in hashes)
        self.training_image_size: int | None = training_size
        self._images = images
        self.count = len(stored)
        self.stored_size = int(images.shape[1])
        self.chunk = int(images.chunks[0]) if images.chunks else _CHUNK
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


def _unreadable(path: str | Path, error: Exception) -> FersynError:
    return FersynError(f"{path}: not a readable fersyn synthetic set ({error}); make one with `fersyn generate`")


def read_synthetic_attributes(path: str | Path) -> dict[str, Any]:
    """The JSON attributes of a synthetic set (emotions, provenance, metrics), and its size."""
    import h5py

    try:
        with h5py.File(path, "r") as store:
            attributes = {key: json.loads(value) for key, value in store.attrs.items()}
            attributes["count"] = int(store["images"].shape[0])
    except (OSError, KeyError, ValueError) as error:
        raise _unreadable(path, error) from None
    return attributes
