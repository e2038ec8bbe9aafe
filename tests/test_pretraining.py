"""Pretraining generators on external faces, then fine-tuning them on a fold: trained briefly in the test
run on a FER2013-style CSV of toy faces of other identities; provenance, the cache and the leak proof."""

import h5py
import numpy as np
import pytest

from fersyn.data import load_dataset, split_dataset
from fersyn.data.duplicates import image_hashes
from fersyn.data.synthetic import read_synthetic_attributes
from helpers import assert_one_line_error, fer_style_csv, run

pytestmark = pytest.mark.slow

EMOTIONS = "happiness,sadness,surprise"
GENERATE = ["generate", "--data", "toy", "--image-size", 32, "--emotions", EMOTIONS, "--split-seed", 3, "--count", 12,
            "--expression-opt", "lambda_expr=0", "--train-steps", 3, "--pretrain-steps", 4]


@pytest.fixture
def external(tmp_path, monkeypatch):
    """Toy faces of identities other than those `generate --data toy` uses, as a FER2013 CSV: 40 Training rows
    and 6 PublicTest rows; the cache in this test's folder."""
    from fersyn.data.toy import toy_faceset

    monkeypatch.setenv("FERSYN_CACHE", str(tmp_path / "cache"))
    faces = toy_faceset(identities=16, repeats=1, image_size=32, emotions=("happiness", "sadness", "surprise"), seed=7)
    return fer_style_csv(tmp_path / "external.csv", faces.subset(np.arange(46)), ["Training"] * 40 + ["PublicTest"] * 6)


def test_generators_pretrain_once_on_external_rows_then_fine_tune_on_the_fold(external, tmp_path):
    result = run(*GENERATE, "--pretrain", external, "--out", tmp_path / "a.h5")
    assert result.exit_code == 0, result.output
    assert "dcgan: training to 4 steps" in result.output and "dcgan: training to 7 steps" in result.output
    attributes = read_synthetic_attributes(tmp_path / "a.h5")
    provenance = attributes["provenance"]
    rows = load_dataset(external, image_size=32, emotions=EMOTIONS)
    training_rows = rows.subset(np.flatnonzero(rows.usage == "train"))
    assert provenance["pretraining"] == {"data": str(external), "fingerprint": training_rows.fingerprint, "faces": 40,
                                         "steps": 4, "generators": ["identity", "expression"]}
    assert provenance["identity"]["trained_steps"] == provenance["expression"]["trained_steps"] == 4 + 3
    with h5py.File(tmp_path / "a.h5") as store:  # the leak record covers the pretraining faces too
        recorded = {h.decode() for h in store["training_hashes"][:]}
    assert set(image_hashes(training_rows.images)) <= recorded
    assert len(list((tmp_path / "cache" / "pretrained").iterdir())) == 2  # one per generator

    again = run(*GENERATE, "--pretrain", external, "--generator-seed", 5, "--out", tmp_path / "b.h5")  # another fit
    assert again.exit_code == 0, again.output
    assert "loaded from" in again.output and "training to 4 steps" not in again.output  # the pretraining is reused
    assert "training to 7 steps" in again.output


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


def test_a_sweep_pretrains_once_and_every_fold_fine_tunes_from_it(external, tmp_path):
    out = tmp_path / "sweep"
    result = run("benchmark", "--data", "toy", "--image-size", 32, "--emotions", EMOTIONS, "--folds", 2, "--ratio", "0,1",
                 "--seeds", 1, "--steps", 8, "--train-steps", 3, "--pretrain", external, "--pretrain-steps", 4,
                 "--expression-opt", "lambda_expr=0", "--out", out)
    assert result.exit_code == 0, result.output
    sets = [read_synthetic_attributes(out / "synthetic" / f"fold-{fold}.h5")["provenance"] for fold in range(2)]
    assert [s["pretraining"]["steps"] for s in sets] == [4, 4] and [s["identity"]["trained_steps"] for s in sets] == [7, 7]
    assert len(list((tmp_path / "cache" / "pretrained").iterdir())) == 2  # fitted once for both folds
    assert sets[0]["pretraining"]["fingerprint"] == sets[1]["pretraining"]["fingerprint"]
