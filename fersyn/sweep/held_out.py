"""The faces a sweep holds out: each fold's validation and test faces, and the cross-dataset test, by content, for
the leak proof of every synthetic set and for sweep.json's record of what was scored."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from fersyn.data import FaceSet, Split, load_dataset, split_dataset
from fersyn.data.layout import Layout
from fersyn.data.leaks import HeldOut
from fersyn.errors import FersynError
from fersyn.sweep.spec import Sweep

if TYPE_CHECKING:

    pass

log = logging.getLogger("fersyn")
@dataclass
class CrossTest:
    """Another dataset's test split, labelled with the benchmark's class indices."""

    faces: FaceSet  # the other dataset (shared emotions only)
    split: Split
    labels: np.ndarray  # of its test faces, as the benchmark's class indices
    spec: str
    emotions: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        return self.faces.fingerprint


def cross_dataset_test(spec: Sweep, faces: FaceSet) -> CrossTest:
    test_data, split_seed = spec.test_data, spec.split_seed
    other = load_dataset(test_data, image_size=spec.image_size, emotions="present", layout=spec.test_layout)
    common = tuple(e for e in other.emotions if e in faces.emotions)
    if not common:
        raise FersynError(f"`test_data` {test_data} has {', '.join(other.emotions)}: no emotion in common with "
                          f"{', '.join(faces.emotions)}")
    other = other.only(common)
    other_split = split_dataset(other, seed=split_seed)  # its test split: its training split may have fed a generator
    labels = np.array([faces.emotions.index(common[label]) for label in other.labels[other_split.test]])
    log.info("cross-dataset test: %d faces of %s (%s)", len(labels), test_data, ", ".join(common))
    return CrossTest(other, other_split, labels, str(test_data), common)


class HeldOutFaces:
    """The faces no generator may have seen, per fold, at any image size (a set may have been fitted at
    another size than the sweep's): the fold's validation and test faces, and the cross-dataset test faces."""

    def __init__(self, spec: Sweep, faces: FaceSet, splits: list[Split], cross: CrossTest | None) -> None:
        self.spec, self.faces, self.splits, self.cross = spec, faces, splits, cross

        @lru_cache(maxsize=4)
        def load(data: str, size: int, emotions: Any, layout: Layout) -> FaceSet:
            return load_dataset(data, image_size=size, emotions=emotions, layout=layout)

        self.load = load

    def _at(self, data: str, emotions: Any, layout: Layout, loaded: FaceSet,
            indices: np.ndarray) -> Callable[[int], np.ndarray]:
        def faces_at(size: int) -> np.ndarray:
            # Reloaded in the same order, so indices still point at the same faces.
            source = loaded if size == loaded.image_size else self.load(data, size, emotions, layout)
            if source is not loaded and loaded.emotions != source.emotions:
                source = source.only(loaded.emotions)
            return source.images[indices]

        return faces_at

    def of_fold(self, fold: int) -> list[HeldOut]:
        split = self.splits[fold]
        emotions = self.spec.emotions  # Sweep made a list a tuple: hashable, as the cache key it is
        where = "" if split.folds == 1 else f" {split.name}"
        held = [HeldOut(f"{self.spec.data}{where}: validation and test faces",
                        self._at(self.spec.data, emotions, self.spec.layout, self.faces, np.r_[split.val, split.test]))]
        if self.cross is not None:
            held.append(HeldOut(f"{self.cross.spec} (the cross-dataset test): test faces",
                                self._at(self.cross.spec, "present", self.spec.test_layout, self.cross.faces,
                                         self.cross.split.test)))
        return held


def test_faces_record(faces: FaceSet, splits: list[Split], cross: CrossTest | None) -> dict[str, Any]:
    """Who each test face is (for the bootstrap over subjects) and its label, per fold and for --test-data;
    a row's predictions are in this order."""
    def described(part: FaceSet, indices: np.ndarray, labels: np.ndarray) -> dict[str, list]:
        groups = part.subjects[indices] if part.subjects is not None else part.names[indices]
        return {"names": part.names[indices].tolist(), "groups": [str(g) for g in groups], "labels": labels.tolist()}

    return {
        "folds": [described(faces, split.test, faces.labels[split.test]) for split in splits],
        "cross": None if cross is None else described(cross.faces, cross.split.test, cross.labels),
        "grouped_by": "subject" if faces.subjects is not None else "face",
    }
