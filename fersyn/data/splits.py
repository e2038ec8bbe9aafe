"""Train / validation / test splits that keep the test honest.

- Subject ids known (CK+ file names, a `subject` column, toy identities): subject-disjoint, so that
  no person is both learned and tested. Among many shuffles under the seed, the one whose class
  proportions in val and test are closest to the whole set's is kept.
- A predefined split (FER2013's `Usage`): used as given (Training / PublicTest / PrivateTest).
- Otherwise: stratified by emotion.
Val and test faces whose exact image is also in train (or test faces also in val) are removed,
since FER2013 carries such leaks; how many is recorded.

`train_fraction` < 1 (a low-data regime) then keeps only part of the training split, whole subjects
where ids are known, else per emotion; validation and test stay exactly those of the full split, so
scores of the full and the reduced regimes are comparable. The training faces it leaves out are kept
apart (`Split.unused`): the positive control fills its ratios with them.

`fold_splits` makes K such splits for cross-validation (the standard CK+ protocol): scikit-learn's
StratifiedGroupKFold deals the subjects into K folds balanced by emotion (StratifiedKFold over faces
where no subject is known; a predefined split is then not used); each fold is the test set once, and
validation comes from the other folds' subjects by the same method.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from fersyn.data.duplicates import image_hashes, shared_images
from fersyn.data.faceset import FaceSet
from fersyn.errors import FersynError

log = logging.getLogger("fersyn")

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
    train_fraction: float = 1.0
    unused: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # training faces a low-data regime left out
    fold: int = 0
    folds: int = 1

    @property
    def name(self) -> str:
        return "the split" if self.folds == 1 else f"fold {self.fold + 1} of {self.folds}"

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def fingerprints(self, faces: FaceSet) -> dict[str, str]:
        """A short hash per part, of the data fingerprint and the names of the faces in it: equal
        hashes, same faces (how a sweep folder recognises its split)."""
        return {
            name: hashlib.sha256(" ".join([faces.fingerprint, *faces.names[indices].tolist()]).encode()).hexdigest()[:16]
            for name, indices in self.parts().items()
        }


def split_dataset(
    faces: FaceSet,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    drop_leaks: bool = True,
    train_fraction: float = 1.0,
) -> Split:
    """Split `faces` into train / val / test (deterministic under `seed`); see the module doc."""
    if not (0 < test_fraction < 1 and 0 <= val_fraction < 1 and val_fraction + test_fraction < 1):
        raise FersynError("split fractions must be between 0 and 1 and leave room for training data")
    if not 0 < train_fraction <= 1:
        raise FersynError(f"`train_fraction` must be above 0 and at most 1 (got {train_fraction})")
    rng = np.random.default_rng(seed)
    if faces.usage is not None and {"train", "test"} <= set(faces.usage.tolist()):
        train, val, test = _predefined(faces, rng, val_fraction)
        method = f"predefined ({faces.usage_from})"
    elif faces.subjects is not None:
        train, val, test = _by_subject(faces, rng, val_fraction, test_fraction)
        method = "subject-disjoint"
    else:
        train, val, test = _stratified(faces.labels, rng, val_fraction, test_fraction)
        method = "stratified by emotion"
    return _finished(faces, train, val, test, method, seed, rng, drop_leaks, train_fraction, val_fraction)


def fold_splits(faces: FaceSet, folds: int, *, seed: int = 0, val_fraction: float = 0.1, train_fraction: float = 1.0,
                drop_leaks: bool = True) -> list[Split]:
    """K cross-validation splits of `faces` (see the module doc); `folds` 1 is `split_dataset`'s one split."""
    if folds == 1:
        return [split_dataset(faces, seed=seed, val_fraction=val_fraction, train_fraction=train_fraction,
                              drop_leaks=drop_leaks)]
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if not 0 < train_fraction <= 1:
        raise FersynError(f"`train_fraction` must be above 0 and at most 1 (got {train_fraction})")
    groups = faces.subjects if faces.subjects is not None else np.arange(len(faces))
    if not 0 < val_fraction < 1:
        raise FersynError(f"the validation fraction must be between 0 and 1 (got {val_fraction})")
    if len(np.unique(groups)) < folds:
        raise FersynError(f"{faces.source}: {len(np.unique(groups))} subjects are too few for `folds` {folds}")
    if faces.usage is not None:
        log.info("%s: cross-validation folds replace its predefined split", faces.source)
    method = "subject-disjoint" if faces.subjects is not None else "stratified by emotion"

    def deal(indices: np.ndarray, parts: int, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
        splitter = (StratifiedGroupKFold(parts, shuffle=True, random_state=random_state) if faces.subjects is not None
                    else StratifiedKFold(parts, shuffle=True, random_state=random_state))
        with warnings.catch_warnings():  # an emotion rarer than the folds: sklearn warns, the split stays usable
            warnings.simplefilter("ignore", UserWarning)
            try:
                return [(indices[a], indices[b]) for a, b in
                        splitter.split(indices, faces.labels[indices], groups[indices])]
            except ValueError:  # fewer subjects than parts
                raise FersynError(f"{faces.source}: {len(np.unique(groups[indices]))} subjects are too few to deal "
                                  f"into {parts} parts (`folds` {folds}, and validation from the other folds); use "
                                  "fewer folds") from None

    everything = np.arange(len(faces))
    inner = max(2, round((1 - 1 / folds) / val_fraction))  # validation: about val_fraction of all faces
    splits = []
    for fold, (rest, test) in enumerate(deal(everything, folds, seed)):
        train, val = deal(rest, inner, seed + 1 + fold)[0]
        rng = np.random.default_rng([seed, fold])
        splits.append(dataclasses.replace(
            _finished(faces, train, val, test, f"{method}, {folds} folds", seed, rng, drop_leaks, train_fraction,
                      val_fraction), fold=fold, folds=folds))
    return splits


def _finished(faces: FaceSet, train: np.ndarray, val: np.ndarray, test: np.ndarray, method: str, seed: int,
              rng: np.random.Generator, drop_leaks: bool, train_fraction: float, val_fraction: float) -> Split:
    """The split after dropping val/test faces identical to a training face (and test faces identical to
    a validation one), and reducing the training part to `train_fraction`."""
    leaks = 0
    if drop_leaks:
        hashes = image_hashes(faces.images)
        val_leaks = shared_images(hashes, train, val)
        test_leaks = shared_images(hashes, np.concatenate([train, val]), test)
        val, test = np.setdiff1d(val, val_leaks), np.setdiff1d(test, test_leaks)
        leaks = len(val_leaks) + len(test_leaks)
    unused = np.zeros(0, np.int64)
    if train_fraction < 1:
        kept = _reduced(faces, train, rng, train_fraction)
        train, unused = kept, np.setdiff1d(train, kept)
    _check_usable(faces, train, val, test, val_fraction)
    return Split(np.sort(train), np.sort(val), np.sort(test), method, seed, leaks, train_fraction, np.sort(unused))


def _reduced(faces: FaceSet, train: np.ndarray, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """`fraction` of the training subjects (the first of many shuffles that keeps every emotion), or,
    without subject ids, `fraction` of each emotion's training faces."""
    if faces.subjects is None:
        kept, _, _ = _stratified(faces.labels[train], rng, 0.0, 1 - fraction)
        return train[np.sort(kept)]
    subjects = np.unique(faces.subjects[train])
    wanted = max(1, round(fraction * len(subjects)))
    for _ in range(_SHUFFLES):
        chosen = rng.permutation(subjects)[:wanted]
        kept = train[np.isin(faces.subjects[train], chosen)]
        if len(np.unique(faces.labels[kept])) == len(faces.emotions):
            return kept
    return kept  # no shuffle kept every emotion: _check_usable names the missing ones


def _check_usable(faces: FaceSet, train: np.ndarray, val: np.ndarray, test: np.ndarray, val_fraction: float) -> None:
    """Every part must hold faces, and training must see every emotion."""
    for name, part in (("training", train), ("test", test)) + ((("validation", val),) if val_fraction > 0 else ()):
        if len(part) == 0:
            raise FersynError(f"{faces.source}: the {name} part of the split is empty; the dataset is too small to split")
    missing = [e for i, e in enumerate(faces.emotions) if not np.any(faces.labels[train] == i)]
    if missing:
        raise FersynError(
            f"{faces.source}: no {', '.join(missing)} face is left for training after the split; "
            f"add data, leave that emotion out with `emotions`, or try another `split_seed`"
        )


def _predefined(faces: FaceSet, rng: np.random.Generator, val_fraction: float):
    usage = faces.usage
    if faces.subjects is not None:
        log.warning("%s: using its predefined split; its subject ids are not used to keep subjects apart", faces.source)
    train, val, test = (np.flatnonzero(usage == part) for part in ("train", "val", "test"))
    if len(val) == 0 and val_fraction > 0:  # carve validation out of train, by emotion
        keep, val, _ = _stratified(faces.labels[train], rng, val_fraction, 0.0)
        train, val = train[keep], train[val]
    return train, val, test


def _by_subject(faces: FaceSet, rng: np.random.Generator, val_fraction: float, test_fraction: float):
    subjects, owner = np.unique(faces.subjects, return_inverse=True)
    if len(subjects) < 3:
        raise FersynError(
            f"{faces.source}: only {len(subjects)} subject(s); a subject-disjoint split needs at least 3"
        )
    overall = np.bincount(faces.labels, minlength=len(faces.emotions)) / len(faces)
    order_by_owner = np.argsort(owner, kind="stable")
    per_subject = dict(zip(range(len(subjects)), np.split(order_by_owner, np.cumsum(np.bincount(owner))[:-1])))
    best, best_score = None, np.inf
    for _ in range(_SHUFFLES):
        order = rng.permutation(len(subjects))
        test, val, train = _fill(order, per_subject, len(faces), test_fraction, val_fraction)
        if len(test) == 0 or (val_fraction > 0 and len(val) == 0):
            continue
        score = sum(
            np.abs(np.bincount(faces.labels[part], minlength=len(overall)) / max(len(part), 1) - overall).sum()
            for part in (test, val) if len(part)
        )
        if score < best_score:
            best, best_score = (train, val, test), score
    if best is None:
        raise FersynError(f"{faces.source}: {len(subjects)} subjects are too few for train, validation and test parts")
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
