"""FaceSet: one labelled set of grayscale faces held in memory, whatever format it came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass
class FaceSet:
    """Faces with canonical emotion labels.

    images:   uint8 array N×H×W×1.
    labels:   int array N, indices into `emotions`.
    emotions: the class set, in canonical order (see fersyn.data.emotions).
    source:   where the faces came from (a path or a dataset name).
    subjects: who each face belongs to (str array N), or None when the source does not say.
    usage:    a split predefined by the source ('train' / 'val' / 'test' per face), or None.
    usage_from: what predefined it (a CSV's Usage column, split folders), as splits report it.
    names:    a human-readable name per face (file path or CSV row), for reports.
    dropped:  how many faces of emotions outside `emotions` were left out, per emotion.
    skipped:  files that could not be read and were left out, with the reason.
    """

    images: np.ndarray
    labels: np.ndarray
    emotions: tuple[str, ...]
    source: str
    subjects: np.ndarray | None = None
    usage: np.ndarray | None = None
    names: np.ndarray | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    usage_from: str = "Usage column"

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 1:
            raise ValueError(f"FaceSet images must be uint8 N×H×W×1, got {self.images.dtype} {self.images.shape}")
        if len(self.labels) != len(self.images):
            raise ValueError("FaceSet needs one label per image")
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.names is None:
            self.names = np.array([f"#{i}" for i in range(len(self.images))])

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    @cached_property
    def fingerprint(self) -> str:
        """A short content hash of the pixels and labels: equal data, equal fingerprint."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.images).tobytes())
        digest.update(",".join(self.emotions[label] for label in self.labels).encode())
        return digest.hexdigest()[:16]

    def counts(self) -> dict[str, int]:
        """Number of faces per emotion, in class order."""
        per_class = np.bincount(self.labels, minlength=len(self.emotions))
        return {emotion: int(n) for emotion, n in zip(self.emotions, per_class)}

    def subset(self, indices: np.ndarray) -> "FaceSet":
        """The faces at `indices`, with everything that describes them."""
        indices = np.asarray(indices, dtype=np.int64)
        return FaceSet(
            images=self.images[indices],
            labels=self.labels[indices],
            emotions=self.emotions,
            source=self.source,
            subjects=None if self.subjects is None else self.subjects[indices],
            usage=None if self.usage is None else self.usage[indices],
            names=self.names[indices],
            usage_from=self.usage_from,
        )

    def only(self, emotions: tuple[str, ...]) -> "FaceSet":
        """The faces of `emotions` (a subset of this set's), relabelled to that class set."""
        names = np.array(self.emotions)[self.labels]
        kept = self.subset(np.flatnonzero(np.isin(names, emotions)))
        kept.labels = np.array([emotions.index(name) for name in names[np.isin(names, emotions)]], dtype=np.int64)
        kept.emotions = tuple(emotions)
        return kept
