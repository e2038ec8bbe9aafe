"""Pretraining generators on external faces, then fine-tuning them on a fold: trained briefly in the test
run on a FER2013-style CSV of toy faces of other identities; provenance, the cache and the leak proof."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import assert_one_line_error, fer_style_csv, run

from fersyn.data import load_dataset, split_dataset
from fersyn.data.duplicates import image_hashes
from fersyn.data.synthetic import read_synthetic_attributes
from fersyn.errors import FersynError
from fersyn.generation.sets import measure_independent_fidelity

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

EMOTIONS = "happiness,sadness,surprise"
GENERATE = ["generate", "--data", "toy", "--image-size", 32, "--emotions", EMOTIONS, "--split-seed", 3, "--count", 12,
            "--identity", "real", "--expression-opt", "lambda_expr=0", "--train-steps", 3, "--pretrain-steps", 4]


@pytest.fixture
def external(tmp_path, monkeypatch):
    """Toy faces of identities other than those `generate --data toy` uses, as a FER2013 CSV: 40 Training rows
    and 6 PublicTest rows; the cache in this test's folder."""
    from fersyn.data.toy import toy_faceset

    monkeypatch.setenv("FERSYN_CACHE", str(tmp_path / "cache"))
    faces = toy_faceset(identities=16, repeats=1, image_size=32, emotions=("happiness", "sadness", "surprise"), seed=7)
    return fer_style_csv(tmp_path / "external.csv", faces.subset(np.arange(46)), ["Training"] * 40 + ["PublicTest"] * 6)


def test_a_pretraining_set_holding_a_test_face_is_refused(tmp_path, monkeypatch):
    from helpers import write_fer_csv

    monkeypatch.setenv("FERSYN_CACHE", str(tmp_path / "cache"))
    toy = load_dataset("toy", image_size=32, emotions=EMOTIONS)
    test_face = toy.images[split_dataset(toy, seed=3).test[0]]
    leaky = write_fer_csv(tmp_path / "leaky.csv", [(3, " ".join(map(str, test_face.ravel())), "Training"),
                                                   (4, " ".join(map(str, 255 - test_face.ravel())), "Training"),
                                                   (5, " ".join(map(str, test_face.ravel() // 2)), "Training")])
    out = tmp_path / "out"
    out.mkdir()
    result = run("-q", *GENERATE, "--pretrain", leaky, "--out", out / "leak.h5")
    assert_one_line_error(result, f"the pretraining data {leaky} holds 1 of the validation and test faces of this split")
    assert list(out.iterdir()) == [] and not (tmp_path / "cache").exists()


def test_a_sweep_pretrains_once_and_every_fold_fine_tunes_from_it(external, tmp_path, fer):  # a judge without a fit
    """dcgan is pretrained 4 steps on the external rows, once (cached), then each of 2 folds fine-tunes it 3 steps;
    the fields editor counts no steps, so it is not pretrained. The sets record the external data by content, and
    their leak record holds the external faces too. fer-mini-xception learnt from FER2013's training rows: it
    reads no set pretrained on a FER2013 CSV independently, when made and when measured again from provenance."""
    out = tmp_path / "sweep"
    result = run("benchmark", "--data", "toy", "--image-size", 32, "--emotions", EMOTIONS, "--folds", 2, "--ratio", "0,1",
                 "--seeds", 1, "--steps", 8, "--expression", "fields", "--train-steps", 3, "--pretrain", external,
                 "--pretrain-steps", 4, "--judge", "fer-mini-xception", "--out", out)
    assert result.exit_code == 0, result.output
    rows = load_dataset(external, image_size=32, emotions=EMOTIONS)
    training_rows = rows.subset(np.flatnonzero(rows.usage == "train"))
    for fold in range(2):
        path = out / "synthetic" / f"fold-{fold}.h5"
        provenance = read_synthetic_attributes(path)["provenance"]
        assert provenance["pretraining"] == {"data": str(external), "fingerprint": training_rows.fingerprint,
                                             "faces": 40, "steps": 4, "generators": ["identity"]}
        assert provenance["identity"]["trained_steps"] == 4 + 3
        with h5py.File(path) as store:  # the leak record covers the pretraining faces too
            assert set(image_hashes(training_rows.images)) <= {h.decode() for h in store["training_hashes"][:]}
        assert read_synthetic_attributes(path)["metrics"]["independent"]["left_out"] == _not_independent(external)
    assert len(list((tmp_path / "cache" / "pretrained").iterdir())) == 1  # fitted once, for both folds
    assert "WARNING: no independent judge read the 2 synthetic set(s)" in " ".join(result.output.split())
    assert measure_independent_fidelity(path)["left_out"] == _not_independent(external)
    with h5py.File(path, "r+") as store:  # its pretraining data is no longer the file it names
        provenance = json.loads(store.attrs["provenance"])
        provenance["pretraining"]["fingerprint"] = "0" * 16
        store.attrs["provenance"] = json.dumps(provenance)
    with pytest.raises(FersynError, match="is not the data the generators of .* were pretrained on"):
        measure_independent_fidelity(path)


def _not_independent(external):  # noqa: N802
    return {"reference": "trained on the faces the generators were fitted on",
            "fer-mini-xception": f"trained on faces the generators were pretrained on ({external})"}


def test_the_fer2013_faces_outside_the_subset_hold_none_of_its_rows(tmp_path):
    """benchmarks/fer2013_outside_subset.py: the release's train/ faces less every face whose pixels are a row of
    the subset, of any usage, written as Training rows that fersyn reads back face for face; test/ is not read."""
    import sys

    from PIL import Image

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from fer2013_outside_subset import main

    from fersyn.data.toy import toy_faceset

    faces = toy_faceset(identities=8, repeats=1, image_size=48, emotions=("happiness", "sadness", "surprise"), seed=5)
    for index, (image, label) in enumerate(zip(faces.images, faces.labels)):
        folder = tmp_path / "release" / ("train" if index < 20 else "test") / faces.emotions[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0]).save(folder / f"{index}.png")
    subset = fer_style_csv(tmp_path / "subset.csv", faces.subset(np.array([0, 1, 2])),
                           ["Training", "PublicTest", "PrivateTest"])
    out = tmp_path / "outside.csv.gz"
    main([str(tmp_path / "release"), "--subset", str(subset), "--out", str(out)])
    written = load_dataset(out, image_size=48, emotions="present")
    assert _emotion_by_face(written) == _emotion_by_face(faces.subset(np.arange(3, 20)))
    assert set(written.usage) == {"train"}


def _emotion_by_face(faces):
    return {digest: faces.emotions[label] for digest, label in zip(image_hashes(faces.images), faces.labels)}
