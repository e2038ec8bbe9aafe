"""The benchmark sweep: ratios parsed, synthetic sets drawn and streamed, cells written once,
summary numbers right, folds and controls, resumed after a kill, bad input refused."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pandas as pd
import pytest
from helpers import as_a_new_process, assert_one_line_error, run

from fersyn.data import load_dataset, split_dataset
from fersyn.data.duplicates import image_hashes
from fersyn.data.emotions import ALL_EMOTIONS
from fersyn.data.leaks import UNVERIFIED
from fersyn.data.splits import fold_splits
from fersyn.data.synthetic import SyntheticSource, SyntheticWriter
from fersyn.data.toy import toy_faceset
from fersyn.errors import FersynError
from fersyn.plugins.contracts import ExpressionGenerator, code_version
from fersyn.plugins.registry import get_plugin, register_expression
from fersyn.sweep.mix import TrainingStream
from fersyn.sweep.spec import Cell, Sweep, parse_ratios
from fersyn.sweep.store import cell_key, check_sweep_folder, read_results

SYNTHETIC_SIZE = 40  # not the benchmark's 48: the stream must resize, and the leak check hashes at 40
_STAND_IN = object()  # write_synthetic's default: the stand-in faces themselves, or their own provenance


def write_synthetic(path, emotions=ALL_EMOTIONS, identities=60, size=SYNTHETIC_SIZE, provenance=_STAND_IN,
                    training_faces=_STAND_IN, training_names=None):
    """A stand-in synthetic set: toy faces of other identities (seed 7), written as `fersyn generate` would.

    It records the content hashes of `training_faces` as the faces its "generators" were fitted on:
    by default the stand-in faces themselves, which are none of toy's faces, so any toy benchmark
    accepts it; other faces (e.g. toy's test faces) to make a leaky set; None to record no hashes
    at all (a set fersyn cannot verify). `provenance` None writes no provenance."""
    faces = toy_faceset(identities=identities, repeats=1, image_size=size, emotions=tuple(emotions), seed=7)
    writer = SyntheticWriter(path, faces.images.shape[1:], faces.emotions)
    for label, emotion in enumerate(faces.emotions):
        chosen = faces.labels == label
        writer.append(faces.images[chosen], emotion, np.flatnonzero(chosen))
    if provenance is _STAND_IN:
        provenance = {"seed": 7, "count": len(faces)}
    if provenance is not None:
        writer.set_attributes(provenance=provenance)
    if training_names is not None:
        writer.set_training_names(training_names)
    if training_faces is _STAND_IN:
        training_faces = faces.images
    if training_faces is not None:
        writer.set_training_faces(training_faces)
    writer.close()
    return path


def toy_at(size=SYNTHETIC_SIZE):
    """Toy's faces at `size` and the benchmark's default split of them (made at 48, as a sweep makes it)."""
    return load_dataset("toy", image_size=size), split_dataset(load_dataset("toy"), seed=0)


def results(out):
    """A sweep folder's rows, predictions kept as the digit strings they are."""
    rows = read_results(out)
    assert len(rows), f"no rows in {out}"
    return rows


def correct(row, labels):
    """Per test face, whether the row's model got it right."""
    predicted = np.array([int(c) for c in row["test_predictions"]])
    assert len(predicted) == len(labels)
    return predicted == np.asarray(labels)


def arms_of(analysis):
    return {(arm["curve"], arm["ratio"]): arm for arm in analysis["arms"]}


def assert_in_interval(value, interval):
    assert interval[0] - 1e-12 <= value <= interval[1] + 1e-12, (value, interval)


def squashed(text):
    return " ".join(text.split())


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("synthetic") / "synth.h5")


def test_ratios_parse_comma_lists_and_repeats():
    assert parse_ratios(("0,1", "2.5", "1")) == (0.0, 1.0, 2.5)
    for bad, text in (("-1", "ratios are finite and ≥ 0"), ("two", "'two' is not a number"), (",", "no ratios given"),
                      ("inf", "ratios are finite")):
        with pytest.raises(FersynError, match=text):
            parse_ratios(bad)


def test_a_sweep_spec_yields_whole_seeds_fold_by_fold_with_real_only_always_in():
    spec = Sweep(ratios="2,1", seeds=2, folds=2, synthetic="set.h5", controls=("augment",), synthetic_only=True)
    assert spec.ratios == (0.0, 1.0, 2.0) and spec.needs_synthetic and not spec.fits_generators
    cells = list(spec.cells())
    assert cells[:7] == [Cell("small-cnn", "real-only", 0.0, 0, 0), Cell("small-cnn", "real+synthetic", 1.0, 0, 0),
                         Cell("small-cnn", "real+augmented", 1.0, 0, 0), Cell("small-cnn", "real+synthetic", 2.0, 0, 0),
                         Cell("small-cnn", "real+augmented", 2.0, 0, 0), Cell("small-cnn", "synthetic-only", None, 0, 0),
                         Cell("small-cnn", "real-only", 0.0, 0, 1)]
    assert len(cells) == 2 * 2 * 6 and len(set(cells)) == len(cells)
    assert [(cell.seed, cell.fold) for cell in cells] == sorted((cell.seed, cell.fold) for cell in cells)
    assert cells[5].describe(2) == "small-cnn, synthetic only, seed 0, fold 1/2"
    assert cells[2].describe() == "small-cnn, ratio 1, augmented copies, seed 0"
    controls = Sweep(ratios="1", seeds=1, train_fraction=0.5, controls=("real",), controls_only=True)
    assert not controls.needs_synthetic and controls.identity is None  # nothing to fit
    assert [(c.training, c.ratio) for c in controls.cells()] == [("real-only", 0.0), ("real+real", 1.0)]
    fitted = Sweep(ratios="1", seeds=1)
    assert fitted.fits_generators and (fitted.identity, fitted.expression) == ("dcgan", "stargan")


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


def test_the_remainder_of_a_balanced_split_goes_to_emotions_drawn_by_the_seed():
    from fersyn.data.synthetic import balanced_counts

    splits = [balanced_counts(100, 6, np.random.default_rng(seed)) for seed in range(20)]
    assert all(sorted(s.tolist()) == [16, 16, 17, 17, 17, 17] for s in splits)  # 100 = 6 × 16 + 4
    assert len({tuple(s) for s in splits}) > 1 and np.array_equal(splits[0], balanced_counts(100, 6, np.random.default_rng(0)))
    assert balanced_counts(12, 6, np.random.default_rng(0)).tolist() == [2] * 6


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


@pytest.mark.slow
def test_a_tiny_sweep_writes_rows_summary_and_plot_and_a_rerun_trains_nothing(tmp_path, synthetic, monkeypatch):
    monkeypatch.setenv("FERSYN_ASSUME_NO_BF16", "1")  # as on a CPU without it: the fallback is noted in the table only
    out = tmp_path / "sweep"
    arguments = ["benchmark", "--data", "toy", "--synthetic", synthetic, "--ratio", "0", "--ratio", "1", "--seeds", "2",
                 "--steps", "20", "--synthetic-only", "--out", out]
    result = run(*arguments)
    assert result.exit_code == 0, result.output
    rows = results(out)
    assert len(rows) == 6 and set(rows["status"]) == {"ok"} and set(rows["fold"]) == {0}
    assert sorted(zip(rows["training"], rows["seed"])) == [("real+synthetic", 0), ("real+synthetic", 1), ("real-only", 0),
                                                         ("real-only", 1), ("synthetic-only", 0), ("synthetic-only", 1)]
    real_only, mixed, only = (rows[rows["training"] == t] for t in ("real-only", "real+synthetic", "synthetic-only"))
    assert set(real_only["ratio"]) == {0.0} and set(mixed["ratio"]) == {1.0} and only["ratio"].isna().all()
    assert set(real_only["n_real"]) == set(mixed["n_real"]) == {1008} and set(only["n_real"]) == {0}
    assert set(real_only["n_extra"]) == {0} and set(mixed["n_extra"]) == set(only["n_extra"]) == {1008}
    # 60 stand-in faces per emotion, 168 wanted: 108 of each emotion's are used twice.
    assert set(real_only["extra_repeated"]) == {0} and set(mixed["extra_repeated"]) == set(only["extra_repeated"]) == {648}
    assert set(rows["steps"]) == {20} and set(rows["validations"]) == {2}  # about once per real epoch (16 steps)
    assert set(mixed["epochs"]) == {round(20 * 64 / 2016, 3)}  # passes over each cell's data
    assert set(real_only["epochs"]) == set(only["epochs"]) == {round(20 * 64 / 1008, 3)}
    assert rows["peaked_late"].tolist() == (rows["best_validation"] > 0.9 * rows["validations"]).tolist()
    assert rows["accuracy"].between(0, 1).all() and rows["key"].is_unique
    for emotion in ("anger", "surprise"):
        assert f"recall_{emotion}" in rows
    # Every toy test face scored, its prediction kept in sweep.json's order; the accuracy is theirs.
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["config"]["schema"] == 2 and len(sweep["test_faces"]["folds"]) == 1
    assert sweep["provenance"]["precision_policy"] == "float32" and sweep["provenance"]["spec"]["precision"] == "mixed"
    labels = sweep["test_faces"]["folds"][0]["labels"]
    toy, split = toy_at(48)
    assert labels == toy.labels[split.test].tolist() and sweep["test_faces"]["grouped_by"] == "subject"
    for _, row in rows.iterrows():
        assert np.array(json.loads(row["confusion"])).sum() == len(row["test_predictions"]) == 288
        assert row["accuracy"] == pytest.approx(correct(row, labels).mean())
    # The set recorded the hashes of faces that are none of toy's: proved unseen, and said so in each row using it.
    held_out = len(split.val) + len(split.test)
    assert pd.concat([mixed, only])["synthetic_check"].str.startswith(
        f"verified by content: none of {held_out} held-out faces (").all()
    assert real_only["synthetic_check"].isna().all()
    assert rows["cross_predictions"].isna().all() and rows["cross_accuracy"].isna().all()

    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == 2 and summary["folds"] == 1 and summary["test_faces"] == 288
    assert summary["failed_cells"] == []
    cnn = summary["classifiers"]["small-cnn"]
    assert cnn["seeds"] == [0, 1] and cnn["incomplete_arms"] == [] and cnn["cross"] is None
    analysis = cnn["analysis"]
    assert analysis["models"] == 2 and analysis["test_groups"] == len(set(toy.subjects[split.test]))  # resampled subjects
    means = {"real only": real_only["accuracy"].mean(), "synthetic": mixed["accuracy"].mean(),
             "synthetic only": only["accuracy"].mean()}
    arms = arms_of(analysis)
    assert set(arms) == {("real only", 0.0), ("synthetic", 1.0), ("synthetic only", None)}
    for (curve, _), arm in arms.items():  # each arm: the mean over seeds, inside its interval
        assert arm["value"] == pytest.approx(means[curve])
        assert_in_interval(arm["value"], arm["ci95"])
    assert list(analysis["curves"]) == ["synthetic"] and analysis["efficiency"] == {} and analysis["comparisons"] == []
    curve = analysis["curves"]["synthetic"]
    baseline, entry = curve["ratios"]
    assert (baseline["ratio"], entry["ratio"]) == (0.0, 1.0) and "gain" not in baseline
    assert baseline["accuracy"] == pytest.approx(means["real only"]) and entry["accuracy"] == pytest.approx(means["synthetic"])
    assert entry["gain"] == pytest.approx(means["synthetic"] - means["real only"])
    assert_in_interval(entry["gain"], entry["gain_ci95"])
    assert 0 < entry["gain_p_holm"] <= 1 and entry["gain_significant"] == (entry["gain_p_holm"] < 0.05)
    assert entry["gain_mde"] > 0
    assert curve["best"]["ratio"] == (1.0 if means["synthetic"] > means["real only"] else 0.0)
    assert curve["bound"]["ratio"] in (None, 0.0, 1.0) and curve["bound"]["margin"] == 0.01
    # The table shows what the summary holds.
    table = squashed(result.stdout)
    assert f"real only 0 {100 * means['real only']:.1f} [" in table
    assert f"synthetic 1 {100 * means['synthetic']:.1f} [" in table and f"{100 * entry['gain']:+.1f} [" in table
    assert f"synthetic only – {100 * means['synthetic only']:.1f} [" in table
    assert "synthetic: bound " in table and squashed(curve["verdict"]) in table
    assert (out / "accuracy_vs_ratio.png").stat().st_size > 1000
    assert "note: precision mixed ran in float32 here" in table and "float32" not in result.stderr

    before = (out / "results.csv").read_bytes()
    again = run(*arguments)
    assert again.exit_code == 0 and "0 cells trained" in again.output, again.output
    assert "6 of 6 cells already finished" in again.output
    assert (out / "results.csv").read_bytes() == before

    report = run("report", out)
    assert report.exit_code == 0 and report.stdout.strip() == result.stdout.split("\n6 cells trained")[0].strip()


@pytest.mark.slow
def test_a_killed_sweep_resumes_with_every_cell_once(tmp_path, synthetic):
    out = tmp_path / "killed"
    command = [sys.executable, "-c", "from fersyn.cli import main; main()", "benchmark", "--data", "toy",
               "--synthetic", str(synthetic), "--ratio", "0,0.5", "--seeds", "2", "--steps", "48", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    table = out / "results.csv"
    deadline = time.monotonic() + 300
    while not table.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # well into the second cell
    assert process.poll() is None, process.stderr.read()
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = results(out)
    assert 1 <= len(finished) < 4 and set(finished["status"]) == {"ok"}

    result = run(*command[3:])
    assert result.exit_code == 0, result.output
    assert f"{len(finished)} of 4 cells already finished" in result.output
    assert f"{4 - len(finished)} cells trained (0 failed), {len(finished)} already done" in result.output
    rows = results(out)
    assert len(rows) == 4 and rows["key"].is_unique and set(rows["status"]) == {"ok"}
    assert sorted(zip(rows["ratio"], rows["seed"])) == [(0.0, 0), (0.0, 1), (0.5, 0), (0.5, 1)]
    # The cells finished before the kill were not trained again: their rows are untouched.
    kept = ["finished", "train_seconds", "accuracy", "test_predictions"]
    before = finished.set_index("key")[kept]
    assert rows.set_index("key").loc[before.index, kept].equals(before)
    assert not [p for p in os.listdir(out) if p.endswith(".part")]


@pytest.mark.each_precision_path
def test_bad_input_is_one_line(tmp_path, synthetic):
    not_a_set = tmp_path / "notes.h5"
    not_a_set.write_text("hello")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(synthetic.read_bytes()[: synthetic.stat().st_size // 2])
    neutral_only = write_synthetic(tmp_path / "neutral.h5", emotions=("neutral",), identities=10)
    # Sets whose generators saw toy's test faces, proved by content whatever the data was called.
    toy, split = toy_at(SYNTHETIC_SIZE)
    saw_test = write_synthetic(tmp_path / "saw_test.h5", identities=10, training_faces=toy.images[split.test],
                               provenance={"data": {"source": "toy-copy", "fingerprint": "made from a renamed copy"}})
    anonymous = write_synthetic(tmp_path / "anonymous.h5", identities=10, provenance=None,
                                training_faces=toy.images[np.r_[split.train, split.test[:5]]])
    unhashed = write_synthetic(tmp_path / "unhashed.h5", identities=10, training_faces=None)
    base = ["benchmark", "--data", "toy", "--seeds", "1", "--steps", "16", "--out", tmp_path / "out"]
    leak = "was made by generators fitted on held-out faces of this benchmark"
    for extra, text in (
        (["--ratio", "-1"], "ratios are finite and ≥ 0"),
        (["--ratio", "x"], "'x' is not a number"),
        (["--ratio", ","], "no ratios given"),
        (["--seeds", "0", "--ratio", "0"], "--seeds must be at least 1"),
        (["--folds", "0", "--ratio", "0"], "--folds must be at least 1 (got 0)"),
        (["--ratio", "0,1", "--control", "real"], "--control real needs a low-data regime (--train-fraction below 1)"),
        (["--ratio", "0,1", "--control", "real", "--train-fraction", "1"], "needs a low-data regime"),
        (["--ratio", "0,1", "--controls-only"], "--controls-only needs --control augment and/or --control real"),
        (["--ratio", "0,1", "--control", "augment", "--controls-only", "--synthetic", synthetic], "runs no synthetic cell"),
        (["--synthetic", tmp_path / "absent.h5", "--ratio", "1"], "no such file or folder"),
        (["--synthetic", not_a_set, "--ratio", "1"], "not a readable fersyn synthetic set"),
        (["--synthetic", truncated, "--ratio", "1"], "not a readable fersyn synthetic set"),
        (["--synthetic", neutral_only, "--ratio", "1"], "no emotion in common"),
        (["--synthetic", synthetic, "--identity", "dcgan", "--ratio", "1"], "not both"),
        (["--synthetic", saw_test, "--ratio", "1"], f"{leak} ({len(split.test)} of the {len(split.val) + len(split.test)} "),
        (["--synthetic", anonymous, "--ratio", "1"], f"{leak} (5 of the "),
        (["--synthetic", saw_test, "--ratio", "0", "--synthetic-only"], leak),
        (["--synthetic", unhashed, "--ratio", "1"], "records no content hashes of the faces its generators were fitted "
                                                    "on, so fersyn cannot prove"),
        (["--synthetic", unhashed, "--ratio", "1"], "or pass --allow-unverified-synthetic to use it anyway"),
        (["--classifier", "resnet", "--ratio", "0"], "resnet"),
        (["--ratio", "1", "--generator-fits", "0"], "--generator-fits must be at least 1 (got 0)"),
        (["--ratio", "1", "--generator-fits", "2", "--seeds", "3"],
         "--generator-fits 2 needs --seeds a multiple of 2 (got 3): each fit gets as many seeds"),
        (["--synthetic", synthetic, "--ratio", "1", "--generator-fits", "2", "--seeds", "2"],
         "--generator-fits 2 needs --synthetic to be a folder of sets per fit"),
        (["--ratio", "0", "--generator-fits", "2", "--seeds", "2"], "--generator-fits 2 needs synthetic cells"),
        (["--synthetic", synthetic, "--ratio", "1", "--pretrain", synthetic], "--pretrain DATA pretrains the generators a sweep fits"),
        (["--ratio", "1", "--pretrain-steps", "5"], "and --pretrain-steps needs it"),
    ):
        assert_one_line_error(run(*base, *extra), text)
    assert not (tmp_path / "out" / "results.csv").exists() and not (tmp_path / "out" / "sweep.json").exists()


@pytest.mark.slow
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


def stored_hashes(path):
    """The content hashes a synthetic set records of the faces its generators were fitted on."""
    with h5py.File(path) as store:
        return {digest.decode() for digest in store["training_hashes"][:]}


@pytest.mark.slow
def logged_events(folder):
    """Every run under `folder` read back with TensorBoard's own reader: {run: {tag: [(step, value)]}},
    a scalar as a float, an image as a uint8 array."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = {}
    for events in folder.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events.parent), size_guidance={"tensors": 0})
        accumulator.Reload()
        runs[str(events.parent.relative_to(folder))] = {
            tag: [(event.step, tf.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)]
            for tag in accumulator.Tags()["tensors"]}
    for tags in runs.values():
        for tag, events in tags.items():
            tags[tag] = [(step, float(value) if value.ndim == 0 else tf.io.decode_png(value[2]).numpy())
                         for step, value in events]
    return runs


@pytest.mark.slow
def test_named_generators_are_fitted_per_fold_on_that_folds_training_faces_only_and_cached_under_out(tmp_path, fer):
    out = tmp_path / "sweep"
    # At 32×32, with no expression critic (lambda_expr 0) and a judge that needs no training: this checks where
    # generators are fitted, kept, reused and watched, not how well.
    arguments = ["benchmark", "--data", "toy", "--image-size", "32", "--folds", "2", "--identity", "dcgan", "--expression",
                 "stargan", "--expression-opt", "lambda_expr=0", "--train-steps", "4", "--ratio", "0,0.25", "--seeds", "1",
                 "--steps", "8", "--judge", "fer-mini-xception", "--filter-confidence", "0.005", "--out", out]
    logs = tmp_path / "logs"
    first = run(*arguments, "--tensorboard", logs)
    assert first.exit_code == 0, first.output
    assert first.output.count("training to 4 steps") == 4  # identity and expression, per fold
    assert first.output.count("(judge fer-mini-xception: ") == 2
    watched = logged_events(logs)
    recipe_key = next(logs.glob("generators/*")).name
    for fold in (0, 1):
        dcgan = watched[f"generators/{recipe_key}/fold-{fold}/identity-dcgan"]
        stargan = watched[f"generators/{recipe_key}/fold-{fold}/expression-stargan"]
        assert [step for step, _ in dcgan["g_loss"]] == [1, 2, 3, 4] and all(np.isfinite(v) for _, v in dcgan["d_loss"])
        assert set(stargan) >= {"d_adv", "g_rec", "gp", "faces"} and [s for s, _ in stargan["g_rec"]] == [1, 2, 3, 4]
        assert dcgan["faces"][-1][0] == 4 and dcgan["faces"][-1][1].shape == (4 * 32, 8 * 32, 1)  # 4 × 8 identities
        assert stargan["faces"][-1][1].shape == (8 * 32, 7 * 32, 1)  # 8 faces: as they are, then each of 6 emotions
    cells = {name: tags for name, tags in watched.items() if name.startswith("cells/")}
    assert len(cells) == 2 * 2 * 2  # 2 folds × 2 ratios, train and validation
    assert all(tags["epoch_loss"] for tags in cells.values())
    toy = load_dataset("toy", image_size=32)
    splits = fold_splits(toy, 2, seed=0)
    recipes = {path.parent.parent.name for path in out.glob("generators/*/fold-*/*-*")}
    assert len(recipes) == 1  # one recipe, one pair of generators per fold
    for kind in ("identity-dcgan", "expression-stargan"):
        assert sorted(p.parent.name for p in out.glob(f"generators/*/fold-*/{kind}")) == ["fold-0", "fold-1"]
    sets = sorted(p.name for p in (out / "synthetic").glob("*.h5"))
    assert sets == ["fold-0.h5", "fold-1.h5"] and not (out / "synthetic.h5").exists()
    hashes = []
    for fold, split in enumerate(splits):
        path = out / "synthetic" / f"fold-{fold}.h5"
        hashes.append(stored_hashes(path))
        assert hashes[-1] == set(image_hashes(toy.images[split.train]))  # that fold's training faces, no other
        with h5py.File(path) as store:
            provenance = json.loads(store.attrs["provenance"])
            training_names = {name.decode() for name in store["training_names"][:]}
        assert (provenance["data"]["fold"], provenance["data"]["folds"], provenance["data"]["split_seed"]) == (fold, 2, 0)
        assert provenance["identity"]["trained_steps"] == provenance["expression"]["trained_steps"] == 4
        assert provenance["judge"]["name"] == provenance["filter"]["judge"] == "fer-mini-xception"
        assert provenance["filter"]["confidence"] == 0.005 and 0 < min(provenance["filter"]["acceptance_rate"].values())
        assert training_names == set(toy.names[split.train])
    assert hashes[0] != hashes[1]
    rows = results(out)
    assert sorted(zip(rows["fold"], rows["n_extra"])) == sorted(
        [(fold, 0) for fold in (0, 1)] + [(fold, round(0.25 * len(split.train))) for fold, split in enumerate(splits)])
    assert set(rows["extra_repeated"]) == {0}
    assert rows[rows["training"] == "real+synthetic"]["synthetic_check"].str.startswith("verified by content").all()
    sweep = json.loads((out / "sweep.json").read_text())
    recipe = json.loads((out / "synthetic" / "fold-0.recipe.json").read_text())["recipe"]
    assert recipe["filter"] == {"judge": "fer-mini-xception", "confidence": 0.005}  # the filter makes the set
    assert recipe.pop("code") == {kind: code_version(get_plugin(kind, name).cls)
                                  for kind, name in (("identity", "dcgan"), ("expression", "stargan"))}
    # What the sets are made by, but for the plugins' code: an edited plugin reruns in the same folder.
    assert sweep["config"]["synthetic_fingerprint"] == cell_key(recipe)
    assert [made["data"]["fold"] for made in sweep["provenance"]["synthetic_sets"]] == [0, 1]
    assert set(rows["synthetic"]) == {str(out / "synthetic")}

    again = run(*arguments)  # both folds' sets and generators reused, every cell already done
    assert again.exit_code == 0, again.output
    assert "training to" not in again.output and again.output.count("reusing") == 2
    assert "4 of 4 cells already finished" in again.output

    assert results(out).equals(rows)


@pytest.mark.slow
def test_cross_dataset_scores_use_the_other_sets_test_split_and_shared_emotions(tmp_path):
    other = toy_faceset(identities=40, repeats=1, emotions=("happiness", "neutral", "sadness", "surprise"), seed=3)
    test_data = tmp_path / "other.npz"
    np.savez(test_data, images=other.images[..., 0], labels=np.array(other.emotions)[other.labels],
             subjects=other.subjects)
    out = tmp_path / "cross"
    result = run("benchmark", "--data", "toy", "--ratio", "0", "--seeds", "1", "--steps", "16",
                 "--test-data", test_data, "--out", out)
    assert result.exit_code == 0, result.output
    row = results(out).iloc[0]
    confusion = np.array(json.loads(row["cross_confusion"]))
    toy_classes = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
    shared = [toy_classes.index(e) for e in ("happiness", "sadness", "surprise")]
    assert confusion.sum(1)[shared].sum() == confusion.sum() > 0  # neutral left out: only shared emotions scored
    assert confusion.sum() < 120  # the test split only, not all 120 faces of the shared emotions
    assert row["cross_accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    sweep = json.loads((out / "sweep.json").read_text())
    cross = sweep["test_faces"]["cross"]
    assert len(row["cross_predictions"]) == len(cross["labels"]) == confusion.sum()
    assert row["cross_accuracy"] == pytest.approx(correct({"test_predictions": row["cross_predictions"]},
                                                          cross["labels"]).mean())
    summary = json.loads((out / "summary.json").read_text())
    [real_only] = summary["classifiers"]["small-cnn"]["cross"]["arms"]
    assert real_only["curve"] == "real only" and real_only["value"] == pytest.approx(row["cross_accuracy"])
    assert f"cross-dataset test: real only {100 * row['cross_accuracy']:.1f} [" in result.stdout
    assert_one_line_error(run("benchmark", "--data", "toy", "--emotions", "anger,fear", "--ratio", "0", "--seeds", "1",
                              "--test-data", test_data, "--out", tmp_path / "none"), "no emotion in common")


@pytest.mark.slow
def test_a_real_data_cell_on_ck48_scored_on_fer2013(tmp_path, ck48, fer2013):
    out = tmp_path / "ck"
    result = run("benchmark", "--data", ck48, "--ratio", "0", "--seeds", "1", "--steps", "48",
                 "--test-data", fer2013, "--out", out)
    assert result.exit_code == 0, result.output
    row = results(out).iloc[0]
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["config"]["split"] == "subject-disjoint" and [row["n_real"]] == sweep["provenance"]["train_images"]
    assert [np.array(json.loads(row["confusion"])).sum()] == sweep["provenance"]["test_images"]
    assert len(row["test_predictions"]) == sweep["provenance"]["test_images"][0]
    assert 0 < np.array(json.loads(row["cross_confusion"])).sum() <= 415  # FER2013's test rows
    assert 0 <= row["cross_accuracy"] <= 1 and row["accuracy"] > 1 / 6


@pytest.mark.slow
def test_a_set_fitted_on_the_training_split_only_is_accepted_and_an_unverified_one_only_when_asked(tmp_path):
    toy, split = toy_at(SYNTHETIC_SIZE)
    honest = write_synthetic(tmp_path / "honest.h5", identities=10, training_faces=toy.images[split.train],
                             provenance={"data": {"source": "toy"}})
    real_only = ["benchmark", "--data", "toy", "--ratio", "0", "--seeds", "1", "--steps", "16"]
    assert run(*real_only, "--out", tmp_path / "out").exit_code == 0
    shutil.copytree(tmp_path / "out", tmp_path / "unverified")  # a second real-only folder
    # A real-only folder takes a synthetic set later (its cells do not depend on one).
    result = run(*real_only, "--out", tmp_path / "out", "--synthetic", honest, "--ratio", "0.1")
    assert result.exit_code == 0, result.output
    assert "1 of 2 cells already finished" in result.output
    rows = results(tmp_path / "out")
    assert rows["n_extra"].tolist() == [0, 101]
    held_out = len(split.val) + len(split.test)
    check = rows["synthetic_check"].iloc[1]
    assert check.startswith(f"verified by content: none of {held_out} held-out faces (")
    assert check.endswith(f"among the {len(split.train)} distinct faces its generators were fitted on")

    unhashed = write_synthetic(tmp_path / "unhashed.h5", identities=10, training_faces=None)
    unverified = [*real_only, "--out", tmp_path / "unverified", "--synthetic", unhashed, "--ratio", "0.1"]
    assert_one_line_error(run(*unverified), "--allow-unverified-synthetic")
    accepted = run(*unverified, "--allow-unverified-synthetic")
    assert accepted.exit_code == 0, accepted.output
    assert "records no content hashes" in accepted.output and "1 of 2 cells already finished" in accepted.output
    rows = results(tmp_path / "unverified")
    assert rows["n_extra"].tolist() == [0, 101] and rows["training"].tolist() == ["real-only", "real+synthetic"]
    assert rows["synthetic_check"].iloc[1] == UNVERIFIED and "unverified" in UNVERIFIED


@pytest.mark.slow
def test_augmentation_control_and_classifier_options_sit_beside_the_gan_cells(tmp_path, synthetic):
    out = tmp_path / "control"
    result = run("benchmark", "--data", "toy", "--synthetic", synthetic, "--ratio", "0,1", "--seeds", "1", "--steps", "16",
                 "--control", "augment", "--classifier-opt", "small-cnn.width=8", "--out", out)
    assert result.exit_code == 0, result.output
    rows = results(out)
    assert sorted(zip(rows["training"], rows["ratio"])) == [("real+augmented", 1.0), ("real+synthetic", 1.0),
                                                            ("real-only", 0.0)]
    augmented = rows[rows["training"] == "real+augmented"].iloc[0]
    mixed = rows[rows["training"] == "real+synthetic"].iloc[0]
    assert augmented["n_extra"] == mixed["n_extra"] == 1008  # the same number of extra faces
    assert augmented["extra_repeated"] == 0 and mixed["extra_repeated"] == 648  # one copy of each real face
    assert pd.isna(augmented["synthetic_check"]) and mixed["synthetic_check"].startswith("verified by content")
    assert set(rows["classifier"]) == {"small-cnn(width=8)"} and set(rows["classifier_plugin"]) == {"small-cnn"}
    assert {json.loads(o)["width"] for o in rows["classifier_options"]} == {8}
    summary = json.loads((out / "summary.json").read_text())
    analysis = summary["classifiers"]["small-cnn(width=8)"]["analysis"]
    accuracy = {t: rows[rows["training"] == t]["accuracy"].iloc[0] for t in rows["training"]}
    assert list(analysis["curves"]) == ["synthetic", "augmented"] and analysis["efficiency"] == {}
    gains = {}
    for curve, training in (("synthetic", "real+synthetic"), ("augmented", "real+augmented")):
        baseline, entry = analysis["curves"][curve]["ratios"]
        assert baseline["accuracy"] == pytest.approx(accuracy["real-only"])  # the shared real-only baseline
        assert entry["ratio"] == 1.0 and entry["accuracy"] == pytest.approx(accuracy[training])
        gains[curve] = entry["gain"]
        assert gains[curve] == pytest.approx(accuracy[training] - accuracy["real-only"])
    [comparison] = analysis["comparisons"]
    assert comparison["curves"] == ["synthetic", "augmented"]
    [difference] = comparison["ratios"]
    assert difference["ratio"] == 1.0 and difference["value"] == pytest.approx(gains["synthetic"] - gains["augmented"])
    assert difference["value"] == pytest.approx(accuracy["real+synthetic"] - accuracy["real+augmented"])
    assert_in_interval(difference["value"], difference["ci95"])
    table = squashed(result.stdout)
    assert "synthetic: bound " in table and "augmented: bound " in table
    assert f"synthetic − augmented (Holm over its 1 ratios): ratio 1: {100 * difference['value']:+.1f} [" in table


def test_augmented_copies_are_fixed_per_copy_and_keep_their_label():
    import tensorflow as tf

    from fersyn.sweep.mix import augment_face, balanced_rows

    faces = toy_faceset(identities=4, repeats=1)
    first = augment_face(tf.constant(faces.images[0]), tf.constant([0, 5], tf.int64)).numpy()
    again = augment_face(tf.constant(faces.images[0]), tf.constant([0, 5], tf.int64)).numpy()
    other = augment_face(tf.constant(faces.images[0]), tf.constant([0, 6], tf.int64)).numpy()
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert first.dtype == np.uint8 and first.shape == faces.images[0].shape
    assert np.abs(first.astype(float) - faces.images[0]).mean() < 60  # a face still, not noise
    draw = balanced_rows(faces.labels, 30, np.random.default_rng(0))
    assert np.array_equal(faces.labels[draw.rows], draw.labels)  # each copy keeps its face's emotion
    assert sorted(np.bincount(draw.labels)) == [5] * 6 and draw.repeated == 6  # 4 faces per emotion, 5 wanted


@pytest.mark.slow
def test_a_low_data_sweep_trains_on_a_fraction_of_the_subjects_and_tests_on_the_same_faces(tmp_path, synthetic):
    toy = load_dataset("toy")
    full, quarter = split_dataset(toy, seed=0), split_dataset(toy, seed=0, train_fraction=0.25)
    out = tmp_path / "low"
    arguments = ["benchmark", "--data", "toy", "--synthetic", synthetic, "--ratio", "0,1", "--seeds", "1",
                 "--steps", "16", "--out", out]
    result = run(*arguments, "--train-fraction", "0.25")
    assert result.exit_code == 0, result.output
    rows = results(out)
    assert set(rows["n_real"]) == {len(quarter.train)} and len(quarter.train) < len(full.train)
    assert sorted(rows["n_extra"]) == [0, len(quarter.train)]  # the ratio is of the reduced real set
    assert {np.array(json.loads(c)).sum() for c in rows["confusion"]} == {len(full.test)}  # the full split's test
    assert {len(p) for p in rows["test_predictions"]} == {len(full.test)}
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["config"]["train_fraction"] == 0.25 and sweep["config"]["split"] == "subject-disjoint"
    assert_one_line_error(run(*arguments), "differs in: --split-seed, --train-fraction)")


@pytest.mark.slow
def test_a_three_fold_sweep_tests_every_face_once_and_pools_the_folds(tmp_path, synthetic):
    out = tmp_path / "folds"
    result = run("benchmark", "--data", "toy", "--folds", "3", "--synthetic", synthetic, "--ratio", "0,0.25",
                 "--seeds", "2", "--steps", "8", "--out", out)
    assert result.exit_code == 0, result.output
    rows = results(out)
    assert set(rows["status"]) == {"ok"}
    assert sorted(zip(rows["training"], rows["seed"], rows["fold"])) == [
        (training, seed, fold) for training in ("real+synthetic", "real-only") for seed in (0, 1) for fold in (0, 1, 2)]
    toy = load_dataset("toy")
    splits = fold_splits(toy, 3, seed=0)
    sweep = json.loads((out / "sweep.json").read_text())
    folds = sweep["test_faces"]["folds"]
    assert sweep["config"]["folds"] == 3 and len(folds) == 3
    # Each face is tested exactly once, by the fold whose subjects no model of that fold trained on.
    assert sorted(name for fold in folds for name in fold["names"]) == sorted(toy.names.tolist())
    subjects = [set(fold["groups"]) for fold in folds]
    assert all(not subjects[a] & subjects[b] for a in range(3) for b in range(a + 1, 3))
    for fold, split in enumerate(splits):
        assert folds[fold]["names"] == toy.names[split.test].tolist()
        assert folds[fold]["labels"] == toy.labels[split.test].tolist()
        assert subjects[fold] == set(toy.subjects[split.test])
        assert not subjects[fold] & set(toy.subjects[np.r_[split.train, split.val]])
    for _, row in rows.iterrows():
        labels = folds[row["fold"]]["labels"]
        assert len(row["test_predictions"]) == len(labels) and row["accuracy"] == pytest.approx(correct(row, labels).mean())
        assert row["n_real"] == len(splits[row["fold"]].train)
        assert row["n_extra"] == (0 if row["training"] == "real-only" else round(0.25 * row["n_real"]))
    # One set, used by every fold (and proved unseen by each fold's held-out faces).
    fingerprint = SyntheticSource(synthetic, toy.emotions, 48).fingerprint
    assert sweep["config"]["synthetic_fingerprint"] == [fingerprint] * 3
    assert set(rows["synthetic"]) == {str(synthetic)} and sweep["provenance"]["synthetic"] == str(synthetic)
    mixed = rows[rows["training"] == "real+synthetic"]
    assert all(f"fold {fold + 1} of 3" in check for fold, check in zip(mixed["fold"], mixed["synthetic_check"]))

    summary = json.loads((out / "summary.json").read_text())
    assert summary["folds"] == 3 and summary["test_faces"] == len(toy)
    analysis = summary["classifiers"]["small-cnn"]["analysis"]
    assert analysis["test_groups"] == len(set(toy.subjects)) and analysis["models"] == 2
    arms = arms_of(analysis)
    assert set(arms) == {("real only", 0.0), ("synthetic", 0.25)}
    for arm, training in ((("real only", 0.0), "real-only"), (("synthetic", 0.25), "real+synthetic")):
        pooled = []  # per seed: right answers over all folds ÷ all test faces
        for seed in (0, 1):
            chosen = rows[(rows["training"] == training) & (rows["seed"] == seed)]
            right = sum(correct(row, folds[row["fold"]]["labels"]).sum() for _, row in chosen.iterrows())
            pooled.append(right / sum(len(fold["labels"]) for fold in folds))
        assert arms[arm]["value"] == pytest.approx(np.mean(pooled))
        assert_in_interval(arms[arm]["value"], arms[arm]["ci95"])
    assert "mean over 3 folds × seeds" in squashed(result.stdout)


@pytest.mark.slow
def test_the_positive_control_adds_real_faces_of_the_training_subjects_the_regime_left_out(tmp_path, synthetic):
    out = tmp_path / "control"
    base = ["benchmark", "--data", "toy", "--train-fraction", "0.25", "--control", "real", "--ratio", "0,1",
            "--seeds", "1", "--steps", "64", "--out", out]
    first = run(*base, "--controls-only")
    assert first.exit_code == 0, first.output
    toy = load_dataset("toy")
    full, quarter = split_dataset(toy, seed=0), split_dataset(toy, seed=0, train_fraction=0.25)
    [folded] = fold_splits(toy, 1, seed=0, train_fraction=0.25)
    assert np.array_equal(folded.unused, quarter.unused) and np.array_equal(folded.train, quarter.train)
    # The unused faces: the training subjects the quarter left out, never a validation or test face or subject.
    assert sorted(np.r_[quarter.train, quarter.unused]) == sorted(full.train) and len(quarter.unused) > len(quarter.train)
    held_out = np.r_[quarter.val, quarter.test]
    assert not set(quarter.unused) & set(held_out)
    assert not set(toy.subjects[quarter.unused]) & set(toy.subjects[np.r_[held_out, quarter.train]])
    rows = results(out)
    assert sorted(zip(rows["training"], rows["ratio"])) == [("real+real", 1.0), ("real-only", 0.0)]
    control = rows[rows["training"] == "real+real"].iloc[0]
    assert control["n_real"] == control["n_extra"] == len(quarter.train) and control["extra_repeated"] == 0
    assert pd.isna(control["synthetic_check"])
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["provenance"]["unused_train_images"] == [len(quarter.unused)]
    assert sweep["config"]["synthetic_fingerprint"] is None and not (out / "synthetic").exists()  # no generator
    accuracy = {t: rows[rows["training"] == t]["accuracy"].iloc[0] for t in rows["training"]}
    analysis = json.loads((out / "summary.json").read_text())["classifiers"]["small-cnn"]["analysis"]
    assert list(analysis["curves"]) == ["unused real"] and analysis["control"] == "unused real"
    assert analysis["efficiency"] == {}  # no curve to set against the control
    control_gain = analysis["curves"]["unused real"]["ratios"][1]["gain"]
    assert control_gain == pytest.approx(accuracy["real+real"] - accuracy["real-only"])
    assert "unused real: bound " in squashed(first.stdout) and "efficiency of" not in first.stdout

    # The same folder with a synthetic set: its curve's efficiency against the control.
    second = run(*base, "--synthetic", synthetic)
    assert second.exit_code == 0, second.output
    assert "2 of 3 cells already finished" in second.output
    rows = results(out)
    mixed = rows[rows["training"] == "real+synthetic"].iloc[0]
    assert mixed["n_real"] == mixed["n_extra"] == len(quarter.train) and mixed["ratio"] == 1.0
    analysis = json.loads((out / "summary.json").read_text())["classifiers"]["small-cnn"]["analysis"]
    assert list(analysis["curves"]) == ["synthetic", "unused real"]
    assert analysis["curves"]["unused real"]["ratios"][1]["gain"] == pytest.approx(control_gain)  # the same cells
    gain = analysis["curves"]["synthetic"]["ratios"][1]["gain"]
    assert gain == pytest.approx(mixed["accuracy"] - accuracy["real-only"])
    [efficiency] = analysis["efficiency"]["synthetic"]
    assert efficiency["ratio"] == 1.0 and len(efficiency["ci95"]) == 2
    assert control_gain != 0, "the control gained nothing: the efficiency is undefined; give the cells more --steps"
    assert efficiency["value"] == pytest.approx(gain / control_gain)
    assert efficiency["control_gain_significant"] == analysis["curves"]["unused real"]["ratios"][1]["gain_significant"]
    table = squashed(second.stdout)
    assert "efficiency of synthetic" in table and f"ratio 1: {efficiency['value']:.2f}" in table

    # The controls again, alone, in the folder that now holds the set: nothing retrained, the set kept.
    fingerprint = json.loads((out / "sweep.json").read_text())["config"]["synthetic_fingerprint"]
    third = run(*base, "--controls-only")
    assert third.exit_code == 0 and "2 of 2 cells already finished" in third.output, third.output
    assert json.loads((out / "sweep.json").read_text())["config"]["synthetic_fingerprint"] == fingerprint
    assert len(results(out)) == 3


@pytest.mark.slow
def test_a_folder_of_sets_gives_each_fold_its_own(tmp_path):
    sets = tmp_path / "sets"
    sets.mkdir()
    write_synthetic(sets / "fold-0.h5", identities=10, provenance={"seed": 7, "fold": 0})  # 10 faces per emotion
    write_synthetic(sets / "fold-1.h5", identities=60, provenance={"seed": 7, "fold": 1})  # 60
    out = tmp_path / "sweep"
    result = run("benchmark", "--data", "toy", "--folds", "2", "--synthetic", sets, "--ratio", "0,0.25", "--seeds", "1",
                 "--steps", "8", "--out", out)
    assert result.exit_code == 0, result.output
    toy = load_dataset("toy")
    splits = fold_splits(toy, 2, seed=0)
    sweep = json.loads((out / "sweep.json").read_text())
    fingerprints = [SyntheticSource(sets / f"fold-{fold}.h5", toy.emotions, 48).fingerprint for fold in (0, 1)]
    assert sweep["config"]["synthetic_fingerprint"] == fingerprints and fingerprints[0] != fingerprints[1]
    assert sweep["provenance"]["synthetic_sets"] == [{"seed": 7, "fold": 0}, {"seed": 7, "fold": 1}]
    assert sweep["provenance"]["synthetic"] == str(sets)
    rows = results(out)
    mixed = rows[rows["training"] == "real+synthetic"].sort_values("fold")
    assert mixed["fold"].tolist() == [0, 1]
    assert mixed["n_extra"].tolist() == [round(0.25 * len(split.train)) for split in splits]
    # About 24 faces wanted per emotion: fold 0's set has 10 of each (some repeat), fold 1's 60 (none repeats).
    assert mixed["extra_repeated"].iloc[0] > 0 and mixed["extra_repeated"].iloc[1] == 0
    first, second = mixed["synthetic_check"]
    assert "fold 1 of 2" in first and "among the 80 distinct faces" in first  # 10 identities × 8 emotions
    assert "fold 2 of 2" in second and "among the 480 distinct faces" in second

    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    shutil.copy(sets / "fold-0.h5", incomplete / "fold-0.h5")
    assert_one_line_error(run("benchmark", "--data", "toy", "--folds", "2", "--synthetic", incomplete, "--ratio", "1",
                              "--seeds", "1", "--out", tmp_path / "none"),
                          f"--synthetic {incomplete} is a folder without fold-1.h5")
    assert not (tmp_path / "none").exists()


@pytest.mark.each_precision_path
@pytest.mark.parametrize("config", [{"data_fingerprint": "toy"}, {"schema": 1, "data_fingerprint": "toy"}],
                         ids=["no schema", "schema 1"])
def test_results_of_an_older_fersyn_are_refused_in_one_line(tmp_path, config):
    old = tmp_path / "old"
    old.mkdir()
    (old / "sweep.json").write_text(json.dumps({"config": config, "provenance": {}}))
    pd.DataFrame([{"key": "0123456789abcdef", "classifier": "small-cnn", "training": "real+synthetic", "ratio": 0.0,
                   "seed": 0, "n_synthetic": 0, "accuracy": 0.5, "status": "ok", "error": ""}]).to_csv(
        old / "results.csv", index=False)
    before = {path.name: path.read_bytes() for path in old.iterdir()}
    older = "holds results of an older fersyn (results schema 1, this version reads 2"
    assert_one_line_error(run("report", old), older)
    assert_one_line_error(run("benchmark", "--data", "toy", "--ratio", "0", "--seeds", "1", "--steps", "8", "--out", old),
                          older)
    assert {path.name: path.read_bytes() for path in old.iterdir()} == before  # nothing written, nothing moved


EDITABLE_CLASSIFIER = '''
import keras
from fersyn.plugins.contracts import Classifier
from fersyn.plugins.registry import register_classifier

@register_classifier("editable")
class Editable(Classifier):
    """A linear classifier a test edits."""
    learning_rate = 1e-2

    def build_model(self, input_shape, num_classes):
        return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                                 keras.layers.Dense(num_classes, activation="softmax")])  # VERSION 1
'''


@pytest.mark.slow
def test_a_rerun_after_a_plugins_code_was_edited_trains_its_cells_again(tmp_path, registry_snapshot):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "editable.py").write_text(EDITABLE_CLASSIFIER)
    command = ["-q", "--plugins-dir", plugins, "benchmark", "--classifier", "editable", "--ratio", "0", "--seeds", "1",
               "--steps", "8", "--out", tmp_path / "sweep"]

    def run_sweep():
        with as_a_new_process(registry_snapshot):  # each run imports the plugin file as it is on disk then
            done = run(*command)
        assert done.exit_code == 0, done.output
        return done.stdout.strip().splitlines()[-1]

    assert run_sweep().startswith("1 cells trained (0 failed), 0 already done")  # unedited, a rerun trains nothing
    (plugins / "editable.py").write_text(EDITABLE_CLASSIFIER.replace("VERSION 1", "VERSION 2"))  # (the tiny sweep's test)
    assert run_sweep().startswith("1 cells trained (0 failed), 0 already done")
    rows = pd.read_csv(tmp_path / "sweep" / "results.csv")
    assert len(rows) == 1  # the earlier version's row is replaced, not pooled with the new one


def test_a_generators_code_and_fit_options_key_its_cache(monkeypatch, plugins):
    from fersyn.sweep import sets as benchmark_module
    from fersyn.sweep.spec import Sweep

    faces = load_dataset("toy")
    spec = Sweep(data="toy", ratios="0,1", identity="dcgan", expression="stargan")
    recipe = benchmark_module.fit_recipe(spec, faces, "float32")
    assert set(recipe["code"]) == {"identity", "expression"}
    assert "identity_precision" not in recipe  # float32: the key a recipe had before fersyn had a precision
    mixed = benchmark_module.fit_recipe(spec, faces, "mixed_bfloat16")
    assert mixed["identity_precision"] == mixed["expression_precision"] == "mixed_bfloat16"
    assert benchmark_module.fit_key(mixed) != benchmark_module.fit_key(recipe)
    monkeypatch.setattr(benchmark_module, "code_version", lambda cls: "edited")
    edited = benchmark_module.fit_recipe(spec, faces, "float32")
    assert edited != recipe and benchmark_module.fit_key(edited) != benchmark_module.fit_key(recipe)
    wider = Sweep(data="toy", ratios="0,1", identity="dcgan", expression="stargan", expression_options={"width": 8})
    assert benchmark_module.fit_key(benchmark_module.fit_recipe(wider, faces, "float32")) != benchmark_module.fit_key(edited)


class Tint(ExpressionGenerator):
    """A stand-in expression generator that fits in no time: adds to a face an offset per emotion that its fit
    draws from its seed, so fits of other seeds make other faces."""

    def __init__(self, options=None, *, image_size=48, channels=1):
        super().__init__(options, image_size=image_size, channels=channels)
        self.offsets = None

    def fit(self, faces, labels, emotions, *, steps=None, seed=0):
        self.offsets = dict(zip(emotions, np.random.default_rng(seed).integers(-40, 40, len(emotions)).tolist()))

    def apply(self, faces, emotions, *, seed):
        offsets = np.array([self.offsets[e] for e in emotions]).reshape(-1, 1, 1, 1)
        return np.clip(faces.astype(int) + offsets, 0, 255).astype(np.uint8)

    def save_state(self, directory):
        (directory / "offsets.json").write_text(json.dumps(self.offsets))

    def load_state(self, directory):
        self.offsets = json.loads((directory / "offsets.json").read_text())


@pytest.mark.slow
def test_each_generator_fit_of_a_fold_writes_its_own_set_and_the_seeds_take_them_in_turn(tmp_path, fer,
                                                                                          registry_snapshot):
    register_expression("tint-test")(Tint)
    out = tmp_path / "sweep"
    # Real identities and a tint (no GAN to train) and a judge that needs no training: where fits are made, kept,
    # reused and mixed in, not how well.
    arguments = ["benchmark", "--data", "toy", "--image-size", "32", "--identity", "real", "--expression", "tint-test",
                 "--ratio", "0,0.25", "--seeds", "2", "--generator-fits", "2", "--steps", "8",
                 "--judge", "fer-mini-xception", "--out", out]
    first = run(*arguments)
    assert first.exit_code == 0, first.output
    paths = [out / "synthetic" / "fold-0.h5", out / "synthetic" / "fit-1" / "fold-0.h5"]  # fit 0 where one fit writes
    made = []
    for path in paths:
        with h5py.File(path) as store:
            made.append((store["images"][:], json.loads(store.attrs["provenance"])))
    (fit0, made0), (fit1, made1) = made
    assert fit0.shape == fit1.shape and not np.array_equal(fit0, fit1)
    assert made0["seed"] == 0 and made1["seed"] not in (0, None)  # the generator seed; the split's stays 0
    assert made0["data"]["split_seed"] == made1["data"]["split_seed"] == 0
    assert len(list(out.glob("generators/*/fold-0/expression-tint-test"))) == 2  # one pair of generators per fit
    recipes = [json.loads(path.with_suffix(".recipe.json").read_text())["recipe"] for path in paths]
    assert "generator_fit" not in recipes[0] and recipes[1].pop("generator_fit") == 1 and recipes[1] == recipes[0]
    rows = results(out)
    assert len(rows) == 4 and (rows["generator_fit"] == rows["seed"] % 2).all()
    gan = rows[rows["training"] == "real+synthetic"]
    assert gan["synthetic_check"].str.startswith("verified by content").all() and set(gan["seed"]) == {0, 1}
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["config"]["generator_fits"] == 2 and sweep["provenance"]["spec"]["generator_fits"] == 2
    assert [s["seed"] for s in sweep["provenance"]["synthetic_sets"]] == [made0["seed"], made1["seed"]]
    assert set(rows["synthetic"]) == {str(out / "synthetic")}

    again = run(*arguments)  # both fits' sets reused, every cell already done
    assert again.exit_code == 0, again.output
    assert again.output.count("reusing") == 2 and "generating" not in again.output
    assert "4 of 4 cells already finished" in again.output

    # The sets of both fits, given as a folder to another sweep, are mixed in by the same seeds.
    reuse = run("benchmark", "--data", "toy", "--image-size", "32", "--synthetic", out / "synthetic", "--generator-fits", "2",
                "--ratio", "0,0.25", "--seeds", "2", "--steps", "8", "--out", tmp_path / "reuse")
    assert reuse.exit_code == 0, reuse.output
    reused = json.loads((tmp_path / "reuse" / "sweep.json").read_text())
    assert len(set(reused["config"]["synthetic_fingerprint"])) == 2  # fit by fit (one fold)
    assert [s["seed"] for s in reused["provenance"]["synthetic_sets"]] == [made0["seed"], made1["seed"]]
    shutil.rmtree(out / "synthetic" / "fit-1")
    assert_one_line_error(run("benchmark", "--data", "toy", "--synthetic", out / "synthetic", "--generator-fits", "2",
                              "--ratio", "0,0.25", "--seeds", "2", "--out", tmp_path / "short"), "without fit-1/fold-0.h5")


def test_fit_0_keeps_the_recipe_and_seed_of_a_single_fit_and_each_further_fit_is_keyed_and_seeded_apart(plugins):
    from fersyn.sweep import sets as benchmark_module

    faces = load_dataset("toy")
    spec, one = (Sweep(data="toy", ratios="0,1", seeds=4, generator_fits=fits, split_seed=3) for fits in (2, 1))
    single = benchmark_module.fit_recipe(one, faces, "float32")
    fits = [benchmark_module.fit_recipe(spec, faces, "float32", fit) for fit in range(3)]
    assert fits[0] == single  # existing sweep folders resume: same cache key, same paths
    assert len({benchmark_module.fit_key(recipe) for recipe in fits}) == 3
    seeds = [benchmark_module.generator_seed(recipe) for recipe in fits]
    assert seeds[0] == 3 and len(set(seeds)) == 3 and seeds == [benchmark_module.generator_seed(r) for r in fits]
    assert "generator_fits" not in one.record() and spec.record()["generator_fits"] == 2  # sweep.json as before


def test_a_controls_only_folder_takes_a_sweep_of_several_generator_fits_and_the_reverse(tmp_path):
    # The study trains its controls once, then runs each GAN setting (2 fits a fold) in a copy of their folder.
    base = {"schema": "x", "folds": 5, "synthetic_fingerprint": None}
    with_fits = {**base, "synthetic_fingerprint": "set", "generator_fits": 2}
    (tmp_path / "sweep.json").write_text(json.dumps({"config": base}))
    check_sweep_folder(tmp_path, dict(with_fits), force=False)
    (tmp_path / "sweep.json").write_text(json.dumps({"config": with_fits}))
    controls = dict(base)
    check_sweep_folder(tmp_path, controls, force=False)
    assert controls == with_fits  # the controls' rerun keeps the folder's sets and fits
    with pytest.raises(FersynError, match="differs in: generator_fits"):
        check_sweep_folder(tmp_path, {**with_fits, "generator_fits": 3}, force=False)


def test_a_cell_without_synthetic_faces_has_the_same_key_whatever_the_folders_sets_and_fits():
    """So that the controls trained once (benchmarks/reproduce.py, generator_recipes.py) are reused by every GAN
    sweep of several generator fits run in a copy of their folder, not trained again."""
    from types import SimpleNamespace

    from fersyn.sweep.cells import CellRunner

    def key(cell: Cell, **config) -> str:
        runner = SimpleNamespace(config={"schema": "x", "folds": 5, **config}, classifier_options={"small-cnn": {}},
                                 classifier_code={"small-cnn": "c"}, classifier_policy={"small-cnn": "float32"},
                                 generator_code={"expression": "g"})
        return cell_key(CellRunner.key_config(runner, cell))

    controls = {"synthetic_fingerprint": None}
    gan = {"synthetic_fingerprint": "set", "generator_fits": 2}
    for training in ("real-only", "real+augmented", "real+real"):
        cell = Cell("small-cnn", training, 0.0 if training == "real-only" else 1.0, seed=1, fold=2)
        assert key(cell, **controls) == key(cell, **gan), training
    synthetic = Cell("small-cnn", "real+synthetic", 1.0, seed=1, fold=2)
    assert key(synthetic, **gan) != key(synthetic, **{**gan, "generator_fits": 3})
