"""Train / validation / test splits that keep the test honest.

- Subject ids known (CK+ file names, a `subject` column, toy identities): subject-disjoint, so that
  no person is both learned and tested. Among many shuffles under the seed, the one whose class
  proportions in val and test are closest to the whole set's is kept.
- A predefined split (FER2013's `Usage`): used as given (Training / PublicTest / PrivateTest).
- Otherwise: stratified by emotion.
Val and test faces whose exact image is also in train (or test faces also in val) are removed,
since FER2013 carries such leaks; how many is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fersyn.data.duplicates import image_hashes, shared_images
from fersyn.data.faceset import FaceSet
from fersyn.errors import FersynError

_SHUFFLES = 64  # subject shuffles tried in search of balanced class proportions


@dataclass(frozen=True)
class Split:
    """Index arrays into one FaceSet, and how they were made."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    method: str
    seed: int
    leaks_removed: int = 0

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}


def split_dataset(
    faces: FaceSet,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    drop_leaks: bool = True,
) -> Split:
    """Split `faces` into train / val / test (deterministic under `seed`); see the module doc."""
    if not (0 < test_fraction < 1 and 0 <= val_fraction < 1 and val_fraction + test_fraction < 1):
        raise FersynError("split fractions must be between 0 and 1 and leave room for training data")
    rng = np.random.default_rng(seed)
    if faces.usage is not None and {"train", "test"} <= set(faces.usage.tolist()):
        train, val, test = _predefined(faces, rng, val_fraction)
        method = "predefined (Usage column)"
    elif faces.subjects is not None:
        train, val, test = _by_subject(faces, rng, val_fraction, test_fraction)
        method = "subject-disjoint"
    else:
        train, val, test = _stratified(faces.labels, rng, val_fraction, test_fraction)
        method = "stratified by emotion"
    leaks = 0
    if drop_leaks:
        hashes = image_hashes(faces.images)
        val_leaks = shared_images(hashes, train, val)
        test_leaks = shared_images(hashes, np.concatenate([train, val]), test)
        val, test = np.setdiff1d(val, val_leaks), np.setdiff1d(test, test_leaks)
        leaks = len(val_leaks) + len(test_leaks)
    return Split(np.sort(train), np.sort(val), np.sort(test), method, seed, leaks)


def _predefined(faces: FaceSet, rng: np.random.Generator, val_fraction: float):
    usage = faces.usage
    train, val, test = (np.flatnonzero(usage == part) for part in ("train", "val", "test"))
    if len(val) == 0 and val_fraction > 0:  # carve validation out of train, by emotion
        keep, val, _ = _stratified(faces.labels[train], rng, val_fraction, 0.0)
        train, val = train[keep], train[val]
    return train, val, test


def _by_subject(faces: FaceSet, rng: np.random.Generator, val_fraction: float, test_fraction: float):
    subjects = np.unique(faces.subjects)
    if len(subjects) < 3:
        raise FersynError(
            f"{faces.source}: only {len(subjects)} subject(s); a subject-disjoint split needs at least 3"
        )
    overall = np.bincount(faces.labels, minlength=len(faces.emotions)) / len(faces)
    per_subject = {s: np.flatnonzero(faces.subjects == s) for s in subjects}
    best, best_score = None, np.inf
    for _ in range(_SHUFFLES):
        order = rng.permutation(subjects)
        test, val, train = _fill(order, per_subject, len(faces), test_fraction, val_fraction)
        score = sum(
            np.abs(np.bincount(faces.labels[part], minlength=len(overall)) / max(len(part), 1) - overall).sum()
            for part in (test, val) if len(part)
        )
        if score < best_score:
            best, best_score = (train, val, test), score
    return best


def _fill(order: np.ndarray, per_subject: dict, total: int, test_fraction: float, val_fraction: float):
    """Deal subjects in `order` to test, then val, until each holds its fraction of the faces."""
    parts: list[list[np.ndarray]] = [[], [], []]
    counts = [0, 0, 0]
    targets = [test_fraction * total, val_fraction * total]
    for position, subject in enumerate(order):
        remaining = len(order) - position
        slot = 2
        for i, target in enumerate(targets):
            if counts[i] < target and remaining > 1:  # always leave at least one subject for train
                slot = i
                break
        parts[slot].append(per_subject[subject])
        counts[slot] += len(per_subject[subject])
    return tuple(np.concatenate(p) if p else np.zeros(0, np.int64) for p in parts)


def _stratified(labels: np.ndarray, rng: np.random.Generator, val_fraction: float, test_fraction: float):
    train, val, test = [], [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(test_fraction * len(members)))
        n_val = int(round(val_fraction * len(members)))
        if len(members) - n_test - n_val < 1:
            n_test, n_val = min(n_test, len(members) - 1), 0
        test.append(members[:n_test])
        val.append(members[n_test : n_test + n_val])
        train.append(members[n_test + n_val :])
    return (np.concatenate(part).astype(np.int64) for part in (train, val, test))
