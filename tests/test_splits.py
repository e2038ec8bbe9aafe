import numpy as np
import pytest

from fersyn.data import FaceSet, load_dataset, split_dataset
from fersyn.data.info import describe_dataset


def tiny_set(n=60, subjects=None, usage=None, duplicate_pairs=()):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)
    for a, b in duplicate_pairs:
        images[b] = images[a]
    return FaceSet(images=images, labels=np.arange(n) % 3, emotions=("anger", "fear", "happiness"), source="tiny",
                   subjects=subjects, usage=usage)


def subjects_of(faces, indices):
    return set(faces.subjects[indices].tolist())


def test_ck48_split_is_subject_disjoint(ck48):
    faces = load_dataset(ck48)
    split = split_dataset(faces, seed=0)
    train, val, test = (subjects_of(faces, part) for part in (split.train, split.val, split.test))
    assert split.method == "subject-disjoint"
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train | val | test) == 106  # every Ekman-six subject is used
    assert len(split.train) + len(split.val) + len(split.test) == len(faces)


def test_subject_split_keeps_class_proportions_close(ck48):
    faces = load_dataset(ck48)
    split = split_dataset(faces, seed=3)
    overall = np.bincount(faces.labels) / len(faces)
    in_test = np.bincount(faces.labels[split.test], minlength=len(overall)) / len(split.test)
    assert np.abs(in_test - overall).max() < 0.08


def test_split_is_deterministic_under_a_seed():
    faces = load_dataset("toy")
    a, b, c = split_dataset(faces, seed=5), split_dataset(faces, seed=5), split_dataset(faces, seed=6)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.train, b.train)
    assert not np.array_equal(a.test, c.test)
    assert not subjects_of(faces, a.train) & subjects_of(faces, a.test)


def test_without_subjects_the_split_is_stratified():
    faces = tiny_set()
    split = split_dataset(faces, seed=0, val_fraction=0.1, test_fraction=0.2)
    assert split.method == "stratified by emotion"
    assert list(np.bincount(faces.labels[split.test])) == [4, 4, 4]
    assert len(np.intersect1d(split.train, split.test)) == 0


def test_predefined_usage_is_respected_and_val_carved_when_missing():
    usage = np.array(["train"] * 50 + ["test"] * 10)
    split = split_dataset(tiny_set(usage=usage), seed=0)
    assert split.method.startswith("predefined")
    assert set(split.test.tolist()) == set(range(50, 60))
    assert len(split.val) > 0 and set(split.val.tolist()) <= set(range(50))


def test_exact_duplicates_across_splits_are_dropped_from_test():
    usage = np.array(["train"] * 40 + ["val"] * 10 + ["test"] * 10)
    faces = tiny_set(usage=usage, duplicate_pairs=[(0, 55), (1, 56), (41, 57)])
    split = split_dataset(faces, seed=0)
    assert split.leaks_removed == 3 and not {55, 56, 57} & set(split.test.tolist())
    kept = split_dataset(faces, seed=0, drop_leaks=False)
    assert {55, 56, 57} <= set(kept.test.tolist())


def test_too_few_subjects_is_a_clear_error():
    from fersyn.errors import FersynError

    with pytest.raises(FersynError, match="only 2 subject"):
        split_dataset(tiny_set(subjects=np.array(["a", "b"] * 30)))


def test_fer2013_subset_duplicates_and_leaks_are_reported(fer2013):
    info = describe_dataset(load_dataset(fer2013, emotions="present"))
    assert info["split"]["method"].startswith("predefined")
    assert {k: v["total"] for k, v in info["split"]["counts"].items()} == {"train": 2800, "val": 416, "test": 415}
    assert info["duplicates"]["groups"] > 0
    assert sum(info["duplicates"]["across_splits"].values()) > 0


def test_a_train_fraction_keeps_a_quarter_of_the_training_subjects_and_the_same_val_and_test(ck48):
    faces = load_dataset(ck48)
    full, low = split_dataset(faces, seed=0), split_dataset(faces, seed=0, train_fraction=0.25)
    assert np.array_equal(full.val, low.val) and np.array_equal(full.test, low.test)
    assert set(low.train.tolist()) < set(full.train.tolist())
    kept, all_train = subjects_of(faces, low.train), subjects_of(faces, full.train)
    assert len(kept) == round(0.25 * len(all_train))
    assert set(faces.labels[low.train].tolist()) == set(range(len(faces.emotions)))  # every emotion kept
    assert low.train_fraction == 0.25 and low.method == full.method
    assert low.fingerprints(faces)["train"] != full.fingerprints(faces)["train"]
    assert np.array_equal(low.train, split_dataset(faces, seed=0, train_fraction=0.25).train)


def test_a_train_fraction_without_subjects_is_taken_per_emotion():
    faces = tiny_set(n=300)
    full, half = split_dataset(faces, seed=0), split_dataset(faces, seed=0, train_fraction=0.5)
    assert set(half.train.tolist()) < set(full.train.tolist())
    assert list(np.bincount(faces.labels[half.train])) == [round(n / 2) for n in np.bincount(faces.labels[full.train])]
    with pytest.raises(Exception, match="`train_fraction`"):
        split_dataset(faces, seed=0, train_fraction=0)


def test_ck48_folds_are_subject_disjoint_stratified_and_test_every_face_once(ck48):
    from fersyn.data.splits import fold_splits

    faces = load_dataset(ck48)
    splits = fold_splits(faces, 5, seed=0, train_fraction=0.25)
    tested = np.concatenate([split.test for split in splits])
    assert sorted(tested) == list(range(len(faces)))  # each face is a test face exactly once
    overall = np.bincount(faces.labels) / len(faces)
    for fold, split in enumerate(splits):
        assert (split.fold, split.folds, split.name) == (fold, 5, f"fold {fold + 1} of 5")
        parts = [subjects_of(faces, part) for part in (split.train, split.val, split.test, split.unused)]
        assert all(not (a & b) for i, a in enumerate(parts) for b in parts[i + 1:])  # no subject in two parts
        assert sorted(np.r_[split.train, split.unused, split.val, split.test]) == list(range(len(faces)))
        assert len(parts[0]) == round(0.25 * len(parts[0] | parts[3]))  # a quarter of the training subjects
        proportions = np.bincount(faces.labels[split.test], minlength=6) / len(split.test)
        assert np.abs(proportions - overall).max() < 0.06  # stratified by emotion
    again = fold_splits(faces, 5, seed=0, train_fraction=0.25)
    assert all(np.array_equal(a.test, b.test) and np.array_equal(a.train, b.train) for a, b in zip(splits, again))
    assert not np.array_equal(fold_splits(faces, 5, seed=1)[0].test, splits[0].test)


def test_folds_without_subjects_are_stratified_over_faces_and_too_few_subjects_fail_clearly():
    from fersyn.data.splits import fold_splits
    from fersyn.errors import FersynError

    faces = tiny_set(90)
    splits = fold_splits(faces, 3, seed=0)
    assert sorted(np.concatenate([s.test for s in splits])) == list(range(90))
    assert all(np.bincount(faces.labels[s.test]).tolist() == [10, 10, 10] for s in splits)
    assert fold_splits(faces, 1, seed=0)[0].test.tolist() == split_dataset(faces, seed=0).test.tolist()
    few = tiny_set(24, subjects=np.repeat(np.array([f"S{i}" for i in range(8)]), 3))
    with pytest.raises(FersynError, match="too few to deal into"):
        fold_splits(few, 4, seed=0)
    with pytest.raises(FersynError, match="too few for `folds` 9"):
        fold_splits(few, 9, seed=0)
