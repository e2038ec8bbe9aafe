"""The benchmark sweep: ratios parsed, synthetic sets drawn and streamed, cells written once,
summary numbers right, resumed after a kill, bad input refused."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from fersyn.benchmark import parse_ratios
from fersyn.data import load_dataset, split_dataset
from fersyn.data.synthetic import SyntheticWriter
from fersyn.data.toy import toy_faceset
from fersyn.emotions import ALL_EMOTIONS
from fersyn.errors import FersynError
from fersyn.mix import SyntheticSource, TrainingStream

from helpers import assert_one_line_error, run

SYNTHETIC_SIZE = 40  # not the benchmark's 48: the stream must resize


def write_synthetic(path, emotions=ALL_EMOTIONS, identities=60, size=SYNTHETIC_SIZE, provenance=None, training_names=None):
    """A stand-in synthetic set: toy faces of other identities (seed 7), written as `fersyn generate` would."""
    faces = toy_faceset(identities=identities, repeats=1, image_size=size, emotions=tuple(emotions), seed=7)
    writer = SyntheticWriter(path, faces.images.shape[1:], faces.emotions)
    for label, emotion in enumerate(faces.emotions):
        chosen = faces.labels == label
        writer.append(faces.images[chosen], emotion, np.flatnonzero(chosen))
    writer.set_attributes(provenance=provenance or {"seed": 7, "count": len(faces)})
    if training_names is not None:
        writer.set_training_names(training_names)
    writer.close()
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("synthetic") / "synth.h5")


def test_ratios_parse_comma_lists_and_repeats():
    assert parse_ratios(("0,1", "2.5", "1")) == (0.0, 1.0, 2.5)
    for bad, text in (("-1", "ratios are finite and ≥ 0"), ("two", "'two' is not a number"), (",", "no ratios given"),
                      ("inf", "ratios are finite")):
        with pytest.raises(FersynError, match=text):
            parse_ratios(bad)


def test_draw_is_balanced_without_replacement_and_reads_few_chunks(synthetic):
    source = SyntheticSource(synthetic, ("anger", "happiness", "surprise"), 48)
    assert source.dropped == {e: 60 for e in ALL_EMOTIONS if e not in ("anger", "happiness", "surprise")}
    draw = source.draw(100, np.random.default_rng(0))
    counts = np.bincount(draw.labels, minlength=3)
    assert sorted(counts) == [33, 33, 34] and draw.repeated == 0
    assert len(np.unique(draw.rows)) == 100  # without replacement
    with h5py.File(synthetic) as store:
        stored = json.loads(store.attrs["emotions"])
        assert [("anger", "happiness", "surprise")[c] for c in draw.labels] == [stored[i] for i in store["labels"][:][draw.rows]]
    many = source.draw(200, np.random.default_rng(0))
    assert many.repeated == 20 and sorted(np.bincount(many.labels)) == [66, 67, 67]
    images, labels = zip(*source.blocks(draw, np.random.default_rng(1)))
    assert sum(map(len, labels)) == 100 and images[0].shape[1:] == (SYNTHETIC_SIZE, SYNTHETIC_SIZE, 1)
    source.close()


def test_stream_mixes_every_face_once_per_epoch_resized(synthetic):
    real = toy_faceset(identities=10, repeats=1)
    source = SyntheticSource(synthetic, real.emotions, 48)
    draw = source.draw(30, np.random.default_rng(0))
    stream = TrainingStream(real.images, real.labels, 16, seed=0, source=source, draw=draw)
    assert stream.size == 90 and stream.steps_per_epoch == 6
    for _ in range(2):  # two epochs: each yields exactly the real faces and the drawn ones
        images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in stream.dataset()])
        images, labels = np.concatenate(images), np.concatenate(labels)
        assert images.shape == (90, 48, 48, 1) and images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1
        assert np.bincount(labels, minlength=6).tolist() == (np.bincount(real.labels, minlength=6) + np.bincount(draw.labels, minlength=6)).tolist()
        real_seen = sum(np.any(np.all(np.abs(images - face / 255.0) < 1e-6, axis=(1, 2, 3))) for face in real.images)
        assert real_seen == 60
    source.close()


def test_a_tiny_sweep_writes_rows_summary_and_plot_and_a_rerun_trains_nothing(tmp_path, synthetic):
    out = tmp_path / "sweep"
    arguments = ["benchmark", "--data", "toy", "--synthetic", synthetic, "--ratio", "0", "--ratio", "1", "--seeds", "2",
                 "--steps", "20", "--synthetic-only", "--out", out]
    result = run(*arguments)
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out / "results.csv")
    assert len(rows) == 6 and set(rows["status"]) == {"ok"}
    mixed = rows[rows["training"] == "real+synthetic"]
    assert sorted(zip(mixed["ratio"], mixed["seed"])) == [(0.0, 0), (0.0, 1), (1.0, 0), (1.0, 1)]
    assert set(mixed["n_real"]) == {1008} and sorted(set(mixed["n_synthetic"])) == [0, 1008]
    only = rows[rows["training"] == "synthetic-only"]
    assert set(only["n_real"]) == {0} and set(only["n_synthetic"]) == {1008}
    assert set(rows["synthetic_repeated"]) == {0, 648}  # 60 stand-in faces per emotion, 168 wanted
    assert set(rows["steps"]) == {20} and set(rows["validations"]) == {2}  # about once per real epoch (16 steps)
    assert set(rows["epochs"]) == {round(20 * 64 / 1008, 3), round(20 * 64 / 2016, 3)}  # passes over each cell's data
    assert rows["accuracy"].between(0, 1).all() and rows["key"].is_unique
    for emotion in ("anger", "surprise"):
        assert f"recall_{emotion}" in rows
    assert np.array(json.loads(rows["confusion"][0])).sum() == 288  # every toy test face scored

    summary = json.loads((out / "summary.json").read_text())
    ratios = summary["classifiers"]["small-cnn"]["ratios"]
    real_only = mixed[mixed["ratio"] == 0]["accuracy"].to_numpy()
    for entry in ratios:
        values = mixed[mixed["ratio"] == entry["ratio"]]["accuracy"].to_numpy()
        half = scipy_stats.t.ppf(0.975, 1) * values.std(ddof=1) / np.sqrt(2)
        assert entry["mean"] == pytest.approx(values.mean())
        assert entry["ci95"] == pytest.approx([values.mean() - half, values.mean() + half])
        assert entry["gain_points"] == pytest.approx(100 * (values.mean() - real_only.mean()))
    assert (out / "accuracy_vs_ratio.png").stat().st_size > 1000
    assert "bound" in result.output and "small-cnn" in result.output

    before = (out / "results.csv").read_bytes()
    again = run(*arguments)
    assert again.exit_code == 0 and "0 cells trained" in again.output, again.output
    assert (out / "results.csv").read_bytes() == before

    report = run("report", out)
    assert report.exit_code == 0 and report.stdout.strip() == result.stdout.split("\n6 cells trained")[0].strip()


def test_a_killed_sweep_resumes_with_every_cell_once(tmp_path, synthetic):
    out = tmp_path / "killed"
    command = [sys.executable, "-c", "from fersyn.cli import main; main()", "benchmark", "--data", "toy",
               "--synthetic", str(synthetic), "--ratio", "0,0.5", "--seeds", "2", "--steps", "160", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    results = out / "results.csv"
    deadline = time.monotonic() + 300
    while not results.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # well into the second cell
    assert process.poll() is None, process.stderr.read()
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = pd.read_csv(results)
    assert 1 <= len(finished) < 4

    result = run(*command[3:])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(results)
    assert len(rows) == 4 and rows["key"].is_unique and set(rows["status"]) == {"ok"}
    assert sorted(zip(rows["ratio"], rows["seed"])) == [(0.0, 0), (0.0, 1), (0.5, 0), (0.5, 1)]
    assert set(finished["key"]) <= set(rows["key"])
    assert not [p for p in os.listdir(out) if p.endswith(".part")]


def test_bad_input_is_one_line(tmp_path, synthetic):
    not_a_set = tmp_path / "notes.h5"
    not_a_set.write_text("hello")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(synthetic.read_bytes()[: synthetic.stat().st_size // 2])
    neutral_only = write_synthetic(tmp_path / "neutral.h5", emotions=("neutral",), identities=10)
    toy = load_dataset("toy")
    test_names = toy.names[split_dataset(toy, seed=0).test]
    saw_test = write_synthetic(tmp_path / "saw_test.h5", identities=10, training_names=test_names[:5],
                               provenance={"data": {"source": "toy", "fingerprint": "made at another size"}})
    old_style = write_synthetic(tmp_path / "old_style.h5", identities=10, provenance={
        "data": {"source": "toy", "fingerprint": toy.fingerprint, "split_fingerprints": {"train": "not this split"}}})
    base = ["benchmark", "--data", "toy", "--seeds", "1", "--steps", "16", "--out", tmp_path / "out"]
    for extra, text in (
        (["--ratio", "-1"], "ratios are finite and ≥ 0"),
        (["--ratio", "x"], "'x' is not a number"),
        (["--ratio", ","], "no ratios given"),
        (["--seeds", "0", "--ratio", "0"], "--seeds must be at least 1"),
        (["--synthetic", not_a_set, "--ratio", "1"], "not a readable fersyn synthetic set"),
        (["--synthetic", truncated, "--ratio", "1"], "not a readable fersyn synthetic set"),
        (["--synthetic", neutral_only, "--ratio", "1"], "no emotion in common"),
        (["--synthetic", synthetic, "--identity", "dcgan", "--ratio", "1"], "not both"),
        (["--synthetic", saw_test, "--ratio", "1"], "under another split: they saw some of its held-out faces"),
        (["--synthetic", old_style, "--ratio", "1"], "under another split: they saw some of its held-out faces"),
        (["--synthetic", saw_test, "--ratio", "0", "--synthetic-only"], "they saw some of its held-out faces"),
        (["--classifier", "resnet", "--ratio", "0"], "resnet"),
    ):
        assert_one_line_error(run(*base, *extra), text)
    assert not (tmp_path / "out" / "results.csv").exists()


def test_results_of_another_configuration_are_refused_unless_forced(tmp_path, synthetic):
    out = tmp_path / "out"
    assert run("benchmark", "--data", "toy", "--ratio", "0", "--seeds", "1", "--steps", "16", "--out", out).exit_code == 0
    other = ["benchmark", "--data", "toy", "--ratio", "0", "--seeds", "1", "--steps", "32", "--out", out]
    assert_one_line_error(run(*other), "holds results of a different sweep (differs in: --steps)")
    forced = run(*other, "--force")
    assert forced.exit_code == 0, forced.output
    rows = pd.read_csv(out / "results.csv")
    assert rows["steps"].tolist() == [32]
    moved = list(out.glob("replaced-*/results.csv"))
    assert len(moved) == 1 and pd.read_csv(moved[0])["steps"].tolist() == [16]


@pytest.mark.slow
def test_named_generators_are_fitted_once_and_cached_under_out(tmp_path):
    out = tmp_path / "sweep"
    arguments = ["benchmark", "--data", "toy", "--identity", "dcgan", "--expression", "stargan", "--train-steps", "10",
                 "--ratio", "0,0.25", "--seeds", "1", "--steps", "16", "--out", out]
    first = run(*arguments)
    assert first.exit_code == 0, first.output
    assert "training to 10 steps" in first.output
    assert (out / "synthetic.h5").is_file() and len(list(out.glob("generators/*/identity-dcgan"))) == 1
    rows = pd.read_csv(out / "results.csv")
    assert sorted(rows["n_synthetic"]) == [0, 252] and set(rows["synthetic_repeated"]) == {0}
    with h5py.File(out / "synthetic.h5") as store:
        provenance = json.loads(store.attrs["provenance"])
    assert provenance["identity"]["trained_steps"] == 10 and provenance["data"]["split_seed"] == 0
    with h5py.File(out / "synthetic.h5") as store:  # the generators saw the training split, nothing else
        training_names = {name.decode() for name in store["training_names"][:]}
    toy = load_dataset("toy")
    assert training_names == set(toy.names[split_dataset(toy, seed=0).train])

    again = run(*arguments, "--seeds", "2")  # one more seed: new cells, the same generators and set
    assert again.exit_code == 0, again.output
    assert "training to" not in again.output and "reusing" in again.output
    assert "2 of 4 cells already finished" in again.output
    assert sorted(pd.read_csv(out / "results.csv")["n_synthetic"]) == [0, 0, 252, 252]


def test_cross_dataset_scores_use_the_other_sets_test_split_and_shared_emotions(tmp_path):
    other = toy_faceset(identities=40, repeats=1, emotions=("happiness", "neutral", "sadness", "surprise"), seed=3)
    test_data = tmp_path / "other.npz"
    np.savez(test_data, images=other.images[..., 0], labels=np.array(other.emotions)[other.labels],
             subjects=other.subjects)
    out = tmp_path / "cross"
    result = run("benchmark", "--data", "toy", "--ratio", "0", "--seeds", "1", "--steps", "16",
                 "--test-data", test_data, "--out", out)
    assert result.exit_code == 0, result.output
    row = pd.read_csv(out / "results.csv").iloc[0]
    confusion = np.array(json.loads(row["cross_confusion"]))
    toy_classes = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
    shared = [toy_classes.index(e) for e in ("happiness", "sadness", "surprise")]
    assert confusion.sum(1)[shared].sum() == confusion.sum() > 0  # neutral left out: only shared emotions scored
    assert confusion.sum() < 120  # the test split only, not all 120 faces of the shared emotions
    assert row["cross_accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert "cross-data acc" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classifiers"]["small-cnn"]["ratios"][0]["cross_accuracy"]["mean"] == pytest.approx(row["cross_accuracy"])
    assert_one_line_error(run("benchmark", "--data", "toy", "--emotions", "anger,fear", "--ratio", "0", "--seeds", "1",
                              "--test-data", test_data, "--out", tmp_path / "none"), "no emotion in common")


@pytest.mark.slow
def test_a_real_data_cell_on_ck48_scored_on_fer2013(tmp_path, ck48, fer2013):
    out = tmp_path / "ck"
    result = run("benchmark", "--data", ck48, "--ratio", "0", "--seeds", "1", "--steps", "48",
                 "--test-data", fer2013, "--out", out)
    assert result.exit_code == 0, result.output
    row = pd.read_csv(out / "results.csv").iloc[0]
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["config"]["split"] == "subject-disjoint" and row["n_real"] == sweep["provenance"]["train_images"]
    assert np.array(json.loads(row["confusion"])).sum() == sweep["provenance"]["test_images"]
    assert 0 < np.array(json.loads(row["cross_confusion"])).sum() <= 415  # FER2013's test rows
    assert 0 <= row["cross_accuracy"] <= 1 and row["accuracy"] > 1 / 6


def test_a_set_fitted_on_the_training_split_only_is_accepted(tmp_path):
    toy = load_dataset("toy")
    train_names = toy.names[split_dataset(toy, seed=0).train]
    honest = write_synthetic(tmp_path / "honest.h5", identities=10, training_names=train_names,
                             provenance={"data": {"source": "toy"}})
    real_only = ["benchmark", "--data", "toy", "--ratio", "0", "--seeds", "1", "--steps", "16", "--out", tmp_path / "out"]
    assert run(*real_only).exit_code == 0
    result = run(*real_only, "--synthetic", honest, "--ratio", "0.1")  # a real-only folder takes a synthetic set later
    assert result.exit_code == 0, result.output
    assert "1 of 2 cells already finished" in result.output
    assert pd.read_csv(tmp_path / "out" / "results.csv")["n_synthetic"].tolist() == [0, 101]


def test_augmentation_control_and_classifier_options_sit_beside_the_gan_cells(tmp_path, synthetic):
    out = tmp_path / "control"
    result = run("benchmark", "--data", "toy", "--synthetic", synthetic, "--ratio", "0,1", "--seeds", "1", "--steps", "16",
                 "--control", "augment", "--classifier-opt", "small-cnn.width=8", "--out", out)
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out / "results.csv")
    assert sorted(zip(rows["training"], rows["ratio"])) == [("real+augmented", 1.0), ("real+synthetic", 0.0),
                                                            ("real+synthetic", 1.0)]
    augmented = rows[rows["training"] == "real+augmented"].iloc[0]
    assert augmented["n_augmented"] == augmented["n_synthetic"] == 1008 and augmented["synthetic_repeated"] == 0
    assert set(rows["classifier"]) == {"small-cnn(width=8)"} and set(rows["classifier_plugin"]) == {"small-cnn"}
    assert {json.loads(o)["width"] for o in rows["classifier_options"]} == {8}
    summary = json.loads((out / "summary.json").read_text())
    control = summary["classifiers"]["small-cnn(width=8)"]["augment_control"]
    assert [entry["ratio"] for entry in control["ratios"]] == [0, 1]
    assert "augmentation control" in result.stdout


def test_augmented_copies_are_fixed_per_copy_and_keep_their_label():
    import tensorflow as tf

    from fersyn.mix import augment_face, augmentation_draw

    faces = toy_faceset(identities=4, repeats=1)
    first = augment_face(tf.constant(faces.images[0]), tf.constant([0, 5], tf.int64)).numpy()
    again = augment_face(tf.constant(faces.images[0]), tf.constant([0, 5], tf.int64)).numpy()
    other = augment_face(tf.constant(faces.images[0]), tf.constant([0, 6], tf.int64)).numpy()
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert first.dtype == np.uint8 and first.shape == faces.images[0].shape
    assert np.abs(first.astype(float) - faces.images[0]).mean() < 60  # a face still, not noise
    draw = augmentation_draw(faces.labels, 30, np.random.default_rng(0))
    assert np.array_equal(faces.labels[draw.rows], draw.labels)  # each copy keeps its face's emotion
    assert sorted(np.bincount(draw.labels)) == [5] * 6 and draw.repeated == 6  # 4 faces per emotion, 5 wanted


def test_a_low_data_sweep_trains_on_a_fraction_of_the_subjects_and_tests_on_the_same_faces(tmp_path, synthetic):
    toy = load_dataset("toy")
    full, quarter = split_dataset(toy, seed=0), split_dataset(toy, seed=0, train_fraction=0.25)
    out = tmp_path / "low"
    arguments = ["benchmark", "--data", "toy", "--synthetic", synthetic, "--ratio", "0,1", "--seeds", "1",
                 "--steps", "16", "--out", out]
    result = run(*arguments, "--train-fraction", "0.25")
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out / "results.csv")
    assert set(rows["n_real"]) == {len(quarter.train)} and len(quarter.train) < len(full.train)
    assert sorted(rows["n_synthetic"]) == [0, len(quarter.train)]  # the ratio is of the reduced real set
    assert {np.array(json.loads(c)).sum() for c in rows["confusion"]} == {len(full.test)}  # the full split's test
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["config"]["train_fraction"] == 0.25 and sweep["config"]["split"] == "subject-disjoint"
    assert_one_line_error(run(*arguments), "differs in: --split-seed, --train-fraction)")
