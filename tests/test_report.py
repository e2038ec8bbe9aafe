"""The report of a sweep folder: arms, curves, efficiencies and verdicts from the rows' predictions and
sweep.json's test faces; incomplete seeds and failed cells; the table, plots, and refusals."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fersyn.analysis.report import report, summarise
from fersyn.analysis.table import format_table
from fersyn.errors import FersynError
from fersyn.sweep.store import SCHEMA

FOLDS, SUBJECTS_PER_FOLD, FACES_PER_SUBJECT = 2, 5, 8
FACES = SUBJECTS_PER_FOLD * FACES_PER_SUBJECT  # test faces per fold
# Accuracy per seed of each (training, ratio); the same in both folds.
CNN = {
    ("real-only", 0.0): [0.60, 0.625, 0.65],
    ("real+synthetic", 1.0): [0.70, 0.725, 0.75],
    ("real+synthetic", 2.0): [0.70, 0.725, 0.75],
    ("real+augmented", 1.0): [0.65, 0.675, 0.70],
    ("real+real", 1.0): [0.80, 0.825, 0.85],
}
TINY_REAL_ONLY = [0.50, 0.55, 0.525]


def _predictions(accuracy, labels):
    """The easiest round(accuracy × n) faces right, the others given the other class."""
    right = np.arange(len(labels)) < round(accuracy * len(labels))
    return "".join(str(label if ok else 1 - label) for label, ok in zip(labels, right))


def _labels(fold):
    return [(i + fold) % 2 for i in range(FACES)]


def _row(classifier, training, ratio, seed, fold, accuracy, status="ok"):
    labels = _labels(fold)
    return {
        "key": f"{classifier}-{training}-{ratio}-{seed}-{fold}", "status": status,
        "error": "" if status == "ok" else "out of memory", "classifier": classifier, "training": training,
        "ratio": ratio, "seed": seed, "fold": fold, "emotions": "anger,happiness", "budget": "steps",
        "n_real": 100, "n_extra": 0 if math.isnan(ratio) else int(100 * ratio), "steps": 50, "validations": 10,
        "best_validation": 10 if training == "real-only" and seed == 0 else 4,
        "peaked_late": training == "real-only" and seed == 0, "accuracy": accuracy, "macro_f1": accuracy,
        "confusion": json.dumps([[10, 10], [10, 10]]),
        "test_predictions": _predictions(accuracy, labels) if status == "ok" else "",
        "cross_predictions": _predictions(accuracy - 0.2, [0] * 10) if status == "ok" else "",
        "finished": "2026-11-30T00:00:00", "classifier_plugin": classifier, "extra_repeated": 0,
        "cross_accuracy": accuracy - 0.2, "synthetic_check": "verified by content",
        "allow_unverified_synthetic": False, "batch_size": 64, "step_budget": 50, "epochs": 2.5,
        "train_seconds": 1.0, "images_per_second": 3200.0, "cross_macro_f1": accuracy - 0.2, "cross_confusion": "",
    }


def _sweep(directory, *, cnn=CNN, synthetic_only=True, failed=True):
    rows = [_row("cnn", training, ratio, seed, fold, accuracy)
            for (training, ratio), per_seed in cnn.items() for seed, accuracy in enumerate(per_seed)
            for fold in range(FOLDS)]
    rows += [_row("tiny", "real-only", 0.0, seed, fold, accuracy)
             for seed, accuracy in enumerate(TINY_REAL_ONLY) for fold in range(FOLDS)]
    if synthetic_only:  # one seed only: left out of a comparison paired over three seeds
        rows += [_row("cnn", "synthetic-only", math.nan, 0, fold, 0.4) for fold in range(FOLDS)]
    if failed:
        rows.append(_row("cnn", "real+synthetic", 2.0, 3, 0, math.nan, status="failed"))
    pd.DataFrame(rows).to_csv(directory / "results.csv", index=False)
    groups = lambda fold: [f"S{fold}{i // FACES_PER_SUBJECT}" for i in range(FACES)]  # noqa: E731
    test_faces = {"folds": [{"names": [f"f{fold}-{i}" for i in range(FACES)], "groups": groups(fold),
                             "labels": _labels(fold)} for fold in range(FOLDS)],
                  "cross": {"names": [f"c{i}" for i in range(10)], "groups": [f"c{i}" for i in range(10)],
                            "labels": [0] * 10},
                  "grouped_by": "subject"}
    (directory / "sweep.json").write_text(json.dumps({"config": {"schema": SCHEMA}, "provenance": {"margin": 0.01},
                                                      "test_faces": test_faces}))
    return directory


def _expected_accuracy(per_seed):
    """Mean over seeds of the pooled accuracy over both folds, from the predictions as written."""
    pooled = []
    for accuracy in per_seed:
        right = sum(sum(p == str(label) for p, label in zip(_predictions(accuracy, _labels(fold)), _labels(fold)))
                    for fold in range(FOLDS))
        pooled.append(right / (FOLDS * FACES))
    return np.mean(pooled)


def _summary(directory, **options):
    sweep = json.loads((_sweep(directory, **options) / "sweep.json").read_text())
    return summarise(pd.read_csv(directory / "results.csv", dtype={"test_predictions": str, "cross_predictions": str}),
                     sweep)


def test_arms_and_curves_come_from_the_predictions(tmp_path):
    summary = _summary(tmp_path)
    assert summary["folds"] == FOLDS and summary["test_faces"] == FOLDS * FACES and summary["margin"] == 0.01
    cnn = summary["classifiers"]["cnn"]
    assert cnn["seeds"] == [0, 1, 2] and cnn["incomplete_arms"] == ["synthetic only"]
    analysis = cnn["analysis"]
    assert analysis["test_groups"] == FOLDS * SUBJECTS_PER_FOLD and analysis["models"] == 3
    arms = {(arm["curve"], arm["ratio"]): arm for arm in analysis["arms"]}
    names = {"real-only": "real only", "real+synthetic": "synthetic", "real+augmented": "augmented",
             "real+real": "unused real"}
    for (training, ratio), per_seed in CNN.items():
        arm = arms[(names[training], ratio)]
        assert arm["value"] == pytest.approx(_expected_accuracy(per_seed))
        assert arm["ci95"][0] <= arm["value"] <= arm["ci95"][1]
    assert set(analysis["curves"]) == {"synthetic", "augmented", "unused real"}
    synthetic = {e["ratio"]: e for e in analysis["curves"]["synthetic"]["ratios"]}
    assert synthetic[1.0]["gain"] == pytest.approx(arms[("synthetic", 1.0)]["value"] - arms[("real only", 0.0)]["value"])
    assert [e["ratio"] for e in analysis["efficiency"]["synthetic"]] == [1.0]
    assert analysis["efficiency"]["synthetic"][0]["value"] == pytest.approx(
        synthetic[1.0]["gain"] / (arms[("unused real", 1.0)]["value"] - arms[("real only", 0.0)]["value"]))
    assert analysis["comparisons"][0]["curves"] == ["synthetic", "augmented"]
    assert cnn["late_peaks"]["real only"] == {"late": 2, "cells": 6}  # seed 0 in both folds
    cross = {(arm["curve"], arm["ratio"]): arm["value"] for arm in cnn["cross"]["arms"]}
    assert cross[("real only", 0.0)] == pytest.approx(np.mean([round(10 * (a - 0.2)) / 10 for a in CNN[("real-only", 0.0)]]))
    tiny = summary["classifiers"]["tiny"]["analysis"]
    assert tiny["curves"] == {} and tiny["arms"][0]["value"] == pytest.approx(_expected_accuracy(TINY_REAL_ONLY))
    assert summary["failed_cells"] == [{"classifier": "cnn", "training": "real+synthetic", "ratio": 2.0, "seed": 3,
                                        "fold": 0, "error": "out of memory"}]


def test_an_interrupted_seed_leaves_out_the_seed_not_the_arms(tmp_path):
    cut = {key: values[:2] for key, values in CNN.items()}
    cut[("real-only", 0.0)] = CNN[("real-only", 0.0)]  # seed 2 finished only its real-only cells
    summary = _summary(tmp_path, cnn=cut, synthetic_only=False, failed=False)
    cnn = summary["classifiers"]["cnn"]
    assert cnn["seeds"] == [0, 1] and cnn["incomplete_arms"] == []
    assert len(cnn["analysis"]["arms"]) == len(CNN)


def test_write_report_writes_summary_table_and_plots(tmp_path):
    result = report(_sweep(tmp_path))
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written == result.summary and written["schema"] == SCHEMA and "Holm" in written["rules"]
    pngs = ["accuracy_vs_ratio.png", "confusion_cnn_real-only.png", "confusion_cnn_best.png",
            "confusion_tiny_real-only.png"]
    assert [path.name for path in result.files] == ["summary.json", *pngs]
    for name in pngs:
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and min(image.size) > 100
    table = result.table
    real_only = _expected_accuracy(CNN[("real-only", 0.0)])
    [line] = [line for line in table.splitlines() if line.startswith("real only") and "[" in line][:1]
    assert line.split()[2:4] == ["0", f"{100 * real_only:.1f}"]
    analysis = result.summary["classifiers"]["cnn"]["analysis"]
    for curve, numbers in analysis["curves"].items():
        assert f"{curve}: bound " in table and numbers["verdict"][:40] in table.replace("\n  ", " ")
    assert "efficiency of synthetic (its gain ÷ the unused real positive control's): ratio 1:" in table
    assert "synthetic − augmented (Holm over its 1 ratios): ratio 1:" in table
    assert ("resampled: test subjects and the classifier seeds (2 of 3 drawn; one generator fit per fold, so the "
            "intervals do not cover another fit of the generators), within each of the 2 folds") in table.replace("\n  ", " ")
    assert "warning: 2 of 6 real-only cells kept weights from the last 10 % of their budget" in table.replace("\n  ", " ")
    assert "cross-dataset test:" in table and "left out (not every seed and fold finished): synthetic only" in table
    assert "1 failed cell(s)" in table and max(len(line) for line in table.splitlines()) <= 100
    assert format_table(result.summary) == table


def test_a_margin_given_to_the_report_overrides_the_sweeps(tmp_path):
    wide = report(_sweep(tmp_path), margin=20).summary
    assert wide["margin"] == 0.2
    synthetic = wide["classifiers"]["cnn"]["analysis"]["curves"]["synthetic"]
    assert synthetic["bound"]["margin"] == 0.2 and "20 point(s)" in synthetic["verdict"]
    narrow = json.loads((tmp_path / "summary.json").read_text())["classifiers"]["cnn"]["analysis"]["curves"]["synthetic"]
    assert narrow == synthetic  # the summary written is the one with the margin asked for
    assert report(tmp_path).summary["margin"] == 0.01  # without one, the sweep's


def test_an_older_folder_is_refused_in_one_line(tmp_path):
    _sweep(tmp_path)
    (tmp_path / "sweep.json").write_text(json.dumps({"config": {"data_fingerprint": "abc"}, "provenance": {}}))
    with pytest.raises(FersynError, match="results of an older fersyn \\(results schema 1"):
        report(tmp_path)


def test_missing_results_is_a_user_error(tmp_path):
    with pytest.raises(FersynError, match=f"{tmp_path}: no results.csv; run `fersyn benchmark --out {tmp_path}` first"):
        report(tmp_path)


def test_results_without_a_successful_cell_are_a_user_error(tmp_path):
    _sweep(tmp_path)
    pd.DataFrame([_row("cnn", "real-only", 0.0, 0, 0, math.nan, status="failed")]).to_csv(
        tmp_path / "results.csv", index=False)
    with pytest.raises(FersynError, match="no successful cell"):
        report(tmp_path)


def test_unreadable_results_are_a_user_error(tmp_path):
    _sweep(tmp_path)
    (tmp_path / "results.csv").write_text("")
    with pytest.raises(FersynError, match="cannot be read"):
        report(tmp_path)


def test_a_table_without_the_row_columns_is_refused(tmp_path):
    _sweep(tmp_path)
    pd.read_csv(tmp_path / "results.csv").drop(columns=["test_predictions"]).to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(FersynError, match="not a fersyn results table \\(no column test_predictions\\)"):
        report(tmp_path)


def test_predictions_that_do_not_match_the_test_faces_are_refused(tmp_path):
    _sweep(tmp_path)
    rows = pd.read_csv(tmp_path / "results.csv", dtype={"test_predictions": str})
    rows.loc[0, "test_predictions"] = rows.loc[0, "test_predictions"][:-1]
    rows.to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(FersynError, match="do not belong together"):
        report(tmp_path)


def test_the_table_names_who_read_the_synthetic_sets_independently(tmp_path):
    sweep_path = _sweep(tmp_path) / "sweep.json"
    sweep = json.loads(sweep_path.read_text())

    def independent(fidelity):
        return {"judges": {"fer-mini-xception": {"fidelity": fidelity}},
                "left_out": {"reference": "trained on the faces the generators were fitted on"},
                "unavailable": {"fer2013-cnn": "set FERSYN_FER2013"}}

    sweep["provenance"]["synthetic_metrics"] = [{"independent": independent(0.25)}, {"independent": independent(0.35)}]
    sweep_path.write_text(json.dumps(sweep))
    summary = report(tmp_path).summary
    assert summary["synthetic_quality"]["independent"]["fer-mini-xception"] == {"mean": 0.3, "min": 0.25, "max": 0.35, "sets": 2}
    table = format_table(summary).replace("\n  ", " ")
    assert ("2 synthetic set(s): independent fidelity 30 % by fer-mini-xception (sets 25–35 %); not independent: "
            "reference (trained on the faces the generators were fitted on); unavailable here: fer2013-cnn") in table

    for metrics in sweep["provenance"]["synthetic_metrics"]:
        metrics["independent"]["judges"] = {}
    sweep_path.write_text(json.dumps(sweep))
    table = format_table(report(tmp_path).summary).replace("\n  ", " ")
    assert "WARNING: no independent judge read the 2 synthetic set(s): their fidelity is measured only by judges" in table
