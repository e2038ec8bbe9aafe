"""`fersyn generate` end to end on toy with a tiny training budget, and its bad inputs."""

import h5py
import numpy as np
import pytest
from helpers import TOY_GENERATE, assert_one_line_error, make_folder_tree, run

from fersyn.data.synthetic import read_synthetic_attributes
from fersyn.plugins.registry import get_plugin
from fersyn.runtime.precision import policy_for, resolve_precision

pytestmark = pytest.mark.slow

TINY = ["--train-steps", "8", "--emotions", "happiness,sadness,surprise"]


def test_synthetic_set_holds_images_labels_identity_and_provenance(toy_generated):
    folder, output = toy_generated
    with h5py.File(folder / "synth.h5") as store:
        images, labels, identity = store["images"], store["labels"][:], store["identity"][:]
        assert images.shape == (100, 32, 32, 1) and images.dtype == np.uint8
        assert images.chunks is not None and images.compression == "gzip"
        assert images[:].std() > 5  # faces, not blanks
        assert sorted(np.bincount(labels).tolist()) == [33, 33, 34]  # balanced over the three emotions
        assert identity.max() == 33 and np.bincount(identity).max() == 3  # each identity shows every emotion once
    attributes = read_synthetic_attributes(folder / "synth.h5")
    assert attributes["emotions"] == ["happiness", "sadness", "surprise"]
    provenance = attributes["provenance"]
    assert provenance["identity"]["plugin"] == "dcgan" and provenance["expression"]["plugin"] == "stargan"
    assert provenance["identity"]["trained_steps"] == 8 and provenance["seed"] == 3
    assert provenance["data"]["fingerprint"] and provenance["versions"]["tensorflow"]
    assert provenance["data"]["split"] == "subject-disjoint"
    mixed = resolve_precision("mixed")  # the default: each generator that opts in trains under it
    assert provenance["precision"] == "mixed"
    for kind, name in (("identity", "dcgan"), ("expression", "stargan")):
        assert provenance[kind]["precision"] == policy_for(get_plugin(kind, name).cls, mixed) == mixed
    assert 0 <= attributes["metrics"]["expression_fidelity"] <= 1
    assert attributes["metrics"]["judge_real_test_accuracy"] > 0.5
    spent = attributes["metrics"]["seconds"]  # where the set's time went
    assert set(spent) == {"identity", "expression", "judge", "faces and metrics"} and spent["identity"] > 0
    assert "expression fidelity" in output and "FD-fer" in output


def test_grid_png_beside_and_nothing_half_written(toy_generated):
    folder, _ = toy_generated
    assert (folder / "synth_grid.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in folder.iterdir()) == ["ckpt", "synth.h5", "synth_grid.png"]
    assert sorted(p.name for p in (folder / "ckpt").iterdir()) == ["expression-stargan", "identity-dcgan"]


def test_second_run_loads_the_checkpoints_instead_of_training(toy_generated, tmp_path, fer):
    folder, _ = toy_generated  # shared: written to by no test
    result = run("generate", *TOY_GENERATE, "--count", 12, "--out", tmp_path / "again.h5", "--checkpoints", folder / "ckpt",
                 "--judge", "fer-mini-xception")  # a judge that needs no training: only the generators matter here
    assert result.exit_code == 0, result.output
    assert "loaded from" in result.output and "dcgan: step" not in result.output
    with h5py.File(tmp_path / "again.h5") as again, h5py.File(folder / "synth.h5") as first:
        # same seed, same generators: the first faces are the same
        assert np.array_equal(again["images"][:4], first["images"][:4])


def test_checkpoint_trained_with_other_options_is_refused(toy_generated, tmp_path):
    folder, _ = toy_generated
    result = run("generate", *TOY_GENERATE, "--count", 12, "--out", tmp_path / "x.h5", "--checkpoints", folder / "ckpt",
                 "--identity-opt", "width=8")
    assert_one_line_error(result, "holds an identity generator trained with other options (width 24 there, 8 asked)")


@pytest.mark.each_precision_path
def test_checkpoint_for_another_image_size_is_refused(toy_generated, tmp_path):
    folder, _ = toy_generated
    result = run("generate", *TOY_GENERATE, "--count", 12, "--out", tmp_path / "x.h5", "--image-size", 48,
                 "--checkpoints", folder / "ckpt")
    assert_one_line_error(result, "fitted on different data (32×32 images, not 48×48)")


@pytest.mark.parametrize(
    "args, text",
    [
        (["--count", 0], "0 is not in the range x>=1"),
        (["--count", "many"], "'many' is not a valid integer"),
        (["--identity", "stylegan"], "unknown identity plugin 'stylegan'"),
        (["--expression", "stargn"], "did you mean 'stargan'"),
    ],
)
def test_bad_arguments(tmp_path, args, text):
    assert_one_line_error(run("generate", "--out", tmp_path / "s.h5", *TINY, *args), text)


def test_bad_output_places(toy_generated, tmp_path, monkeypatch):
    folder, _ = toy_generated
    assert_one_line_error(run("generate", "--out", tmp_path / "missing" / "s.h5", *TINY), "output directory does not exist")
    assert_one_line_error(run("generate", "--out", folder / "synth.h5", *TINY), "already exists; pass --overwrite")
    assert_one_line_error(run("generate", "--out", tmp_path, *TINY), "is a directory")
    # CI runs as root, for whom permission bits do not stop a write: simulate a read-only folder.
    import fersyn.runtime.files

    monkeypatch.setattr(fersyn.runtime.files.os, "access", lambda path, mode: False)
    assert_one_line_error(run("generate", "--out", tmp_path / "s.h5", *TINY), "not writable")


@pytest.mark.each_precision_path
def test_emotion_missing_from_data_and_too_small_training_split(tmp_path):
    small = make_folder_tree(tmp_path / "small", spec=(("happy", 12), ("sad", 12)))
    assert_one_line_error(run("generate", "--data", small, "--out", tmp_path / "a.h5", "--emotions", "happy,fear"),
                          "has no images of fear")
    assert_one_line_error(run("generate", "--data", small, "--out", tmp_path / "a.h5", "--emotions", "happy,sad"),
                          "training a GAN needs at least 64")
