"""A synthetic set is let into a benchmark only if it provably never saw a held-out face: proved by the
content hashes of the faces its generators were fitted on, whatever the data's folder is called."""

import logging

import h5py
import numpy as np
import pytest

from fersyn.data import load_dataset, split_dataset
from fersyn.data.duplicates import image_hashes
from fersyn.data.leaks import UNVERIFIED, HeldOut, check_unseen
from fersyn.data.synthetic import SyntheticSource, SyntheticWriter
from fersyn.data.toy import toy_faceset
from fersyn.errors import FersynError

TRAINING_SIZE = 32  # the size the stand-in generators were "fitted" at
STORED_SIZE = 40  # the synthetic faces' own size: neither the training size nor the sweep's


def toy_split(size, emotions=None, seed=0):
    faces = load_dataset("toy", image_size=size, emotions=emotions)
    return faces, split_dataset(faces, seed=seed)


def toy_held_out(asked=None, emotions=None, seed=0):
    """The toy benchmark's validation and test faces, at whatever size they are asked for."""

    def faces_at(size):
        if asked is not None:
            asked.append(size)
        faces, split = toy_split(size, emotions, seed)
        return faces.images[np.r_[split.val, split.test]]

    return HeldOut(f"toy seed {seed}, validation and test faces", faces_at)


def write_set(path, *, training_faces=None, training_names=None, provenance=None, emotions=None):
    """A stand-in synthetic set: toy faces of other identities, with whatever record of its training faces."""
    faces = toy_faceset(identities=2, repeats=1, image_size=STORED_SIZE, seed=7)
    writer = SyntheticWriter(path, faces.images.shape[1:], faces.emotions)
    for label, emotion in enumerate(faces.emotions):
        chosen = faces.labels == label
        writer.append(faces.images[chosen], emotion, np.flatnonzero(chosen))
    if provenance is not None:
        writer.set_attributes(provenance=provenance)
    if training_names is not None:
        writer.set_training_names(training_names)
    if training_faces is not None:
        writer.set_training_faces(training_faces)
    writer.close()
    return path


def open_set(path, sweep_size=TRAINING_SIZE):
    faces, _ = toy_split(sweep_size)
    return SyntheticSource(path, faces.emotions, sweep_size)


def test_a_set_fitted_on_the_training_split_only_is_accepted(tmp_path):
    faces, split = toy_split(TRAINING_SIZE)
    honest = write_set(tmp_path / "honest.h5", training_faces=faces.images[split.train], provenance={"data": {"source": "toy"}})
    with h5py.File(honest) as store:
        assert store["training_hashes"].dtype == np.dtype("S32") and store["training_hashes"].compression == "gzip"
    source = open_set(honest)
    assert source.training_hashes == frozenset(image_hashes(faces.images[split.train]))
    assert source.training_image_size == TRAINING_SIZE
    note = check_unseen(source, [toy_held_out()])
    held_out = len(split.val) + len(split.test)
    assert note == (f"verified by content: none of {held_out} held-out faces (toy seed 0, validation and test faces) "
                    f"among the {len(split.train)} distinct faces its generators were fitted on")
    source.close()


@pytest.mark.parametrize("provenance", [{"data": {"source": "toy-copy"}}, None], ids=["renamed copy", "no provenance"])
def test_a_set_that_saw_test_faces_is_refused_whatever_its_data_was_called(tmp_path, provenance):
    faces, split = toy_split(TRAINING_SIZE)
    fitted_on = faces.images[np.r_[split.train, split.test[:5]]]
    leaky = write_set(tmp_path / "leaky.h5", training_faces=fitted_on, provenance=provenance,
                      training_names=[f"copy/{name}" for name in faces.names[np.r_[split.train, split.test[:5]]]])
    source = open_set(leaky)
    held_out = len(split.val) + len(split.test)
    with pytest.raises(FersynError, match=f"fitted on held-out faces of this benchmark \\(5 of the {held_out} toy seed 0") as refused:
        check_unseen(source, [toy_held_out()], allow_unverified=True)  # a proven leak is refused, allowed or not
    assert "\n" not in str(refused.value) and "`split_seed`/`folds`" in str(refused.value)
    source.close()


def test_a_set_without_content_hashes_is_refused_unless_allowed_unverified(tmp_path, caplog):
    faces, split = toy_split(TRAINING_SIZE)
    named_only = write_set(tmp_path / "named.h5", training_names=faces.names[split.train], provenance={"data": {"source": "toy"}})
    source = open_set(named_only)
    assert source.training_hashes is None and source.training_image_size is None
    asked = []
    with pytest.raises(FersynError, match="records no content hashes of the faces its generators were fitted on") as refused:
        check_unseen(source, [toy_held_out(asked)])
    assert "\n" not in str(refused.value) and "`allow_unverified_synthetic`" in str(refused.value)
    with caplog.at_level(logging.WARNING, logger="fersyn"):
        assert check_unseen(source, [toy_held_out(asked)], allow_unverified=True) == UNVERIFIED
    assert [r.levelname for r in caplog.records] == ["WARNING"] and "records no content hashes" in caplog.text
    assert asked == []  # nothing to compare: no faces loaded
    source.close()


def test_held_out_faces_are_compared_at_the_size_the_generators_saw(tmp_path):
    faces, split = toy_split(TRAINING_SIZE)
    leaky = write_set(tmp_path / "leaky.h5", training_faces=faces.images[np.r_[split.train, split.test[:3]]])
    honest = write_set(tmp_path / "honest.h5", training_faces=faces.images[split.train])
    asked = []
    source = open_set(leaky, sweep_size=24)  # the sweep runs at 24: hashes of 24-pixel faces would never match
    with pytest.raises(FersynError, match="3 of the"):
        check_unseen(source, [toy_held_out(asked)])
    source.close()
    source = open_set(honest, sweep_size=24)
    assert check_unseen(source, [toy_held_out(asked)]).startswith("verified by content")
    source.close()
    assert asked == [TRAINING_SIZE, TRAINING_SIZE]


def test_a_set_without_a_training_size_is_compared_at_its_stored_size(tmp_path):
    faces, split = toy_split(STORED_SIZE)
    path = write_set(tmp_path / "sizeless.h5", training_faces=faces.images[np.r_[split.train, split.val[:2]]])
    with h5py.File(path, "a") as store:
        del store.attrs["training_image_size"]
    asked = []
    source = open_set(path)
    with pytest.raises(FersynError, match="2 of the"):
        check_unseen(source, [toy_held_out(asked)])
    assert asked == [STORED_SIZE]
    source.close()


@pytest.mark.slow
def test_generate_records_the_hashes_of_exactly_its_training_split(toy_generated):
    folder, _ = toy_generated  # fitted at 32×32, three emotions, split seed 3
    emotions = ("happiness", "sadness", "surprise")
    faces, split = toy_split(32, emotions, seed=3)
    with h5py.File(folder / "synth.h5") as store:
        recorded = [digest.decode() for digest in store["training_hashes"][:]]
    assert recorded == image_hashes(faces.images[split.train]).tolist()
    source = SyntheticSource(folder / "synth.h5", faces.emotions, 48)
    assert source.training_image_size == 32
    asked = []
    assert check_unseen(source, [toy_held_out(asked, emotions, seed=3)]).startswith("verified by content")  # at 48
    assert asked == [32]
    source.close()
