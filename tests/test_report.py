import json
import math
import statistics

import pandas as pd
import pytest
from PIL import Image
from scipy.stats import t as student_t
from scipy.stats import ttest_rel

from fersyn.errors import FersynError
from fersyn.report import format_table, summarise, write_report

# Accuracy per seed (0, 1, 2) of each ratio; 50 test faces of each of two emotions.
CNN = {0.0: [0.60, 0.62, 0.64], 1.0: [0.70, 0.74, 0.72], 2.0: [0.72, 0.72, 0.74]}
CNN_SYNTHETIC_ONLY = 0.40
TINY_REAL_ONLY = [0.50, 0.56, 0.53]
# The augmentation control of cnn: clearly below the GAN at ratio 1, level with it at 2; 4 has no GAN cells.
AUGMENTED = {1.0: [0.63, 0.66, 0.65], 2.0: [0.73, 0.71, 0.75], 4.0: [0.70, 0.72, 0.71]}
CONTROL_TITLE = "cnn · augmentation control (augmented copies of real faces instead of synthetic)"
N_REAL = 200


def _row(classifier, training, ratio, seed, accuracy, cross=math.nan, status="ok", error=""):
    right = round(50 * accuracy) if status == "ok" else 0  # correct faces of each emotion
    synthetic = N_REAL * (1 if training == "synthetic-only" else ratio)
    return {
        "key": f"{classifier}-{training}-{ratio}-{seed}", "status": status, "error": error, "classifier": classifier,
        "training": training, "ratio": ratio, "seed": seed, "data": "toy", "emotions": "anger,happiness",
        "budget": "epochs", "n_real": N_REAL, "n_synthetic": synthetic, "steps": 100, "epochs": 5,
        "train_seconds": 1.5, "accuracy": accuracy, "macro_f1": accuracy - 0.01, "recall_anger": accuracy,
        "recall_happiness": accuracy, "cross_accuracy": cross, "cross_macro_f1": cross,
        "confusion": json.dumps([[right, 50 - right], [50 - right, right]]) if status == "ok" else "",
        "test_data": "fer" if not math.isnan(cross) else "",
    }


def _results(directory, augmented=False):
    rows = [_row("cnn", "real+synthetic", ratio, seed, accuracy, cross=accuracy - 0.2)
            for ratio, values in CNN.items() for seed, accuracy in enumerate(values)]
    rows.append(_row("cnn", "synthetic-only", math.nan, 0, CNN_SYNTHETIC_ONLY))
    rows.append(_row("cnn", "real+synthetic", 2.0, 3, math.nan, status="failed", error="out of memory"))
    rows += [_row("tiny", "real+synthetic", 0.0, seed, accuracy) for seed, accuracy in enumerate(TINY_REAL_ONLY)]
    if augmented:
        rows += [_row("cnn", "real+augmented", ratio, seed, accuracy)
                 for ratio, values in AUGMENTED.items() for seed, accuracy in enumerate(values)]
    pd.DataFrame(rows).to_csv(directory / "results.csv", index=False)
    return directory


def _mean_and_half_width(values):
    half = student_t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return statistics.mean(values), half


def test_summary_statistics_and_gains(tmp_path):
    summary = summarise(pd.read_csv(_results(tmp_path) / "results.csv"), {"commit": "abc"})
    assert summary["budget"] == "epochs" and summary["emotions"] == ["anger", "happiness"]
    assert summary["provenance"] == {"commit": "abc"} and "paired t-test" in summary["rule"]
    cnn = summary["classifiers"]["cnn"]
    assert [entry["ratio"] for entry in cnn["ratios"]] == [0.0, 1.0, 2.0]
    real_only = statistics.mean(CNN[0.0])
    for entry in cnn["ratios"]:
        values = CNN[entry["ratio"]]
        mean, half = _mean_and_half_width(values)
        assert entry["seeds"] == 3
        assert entry["mean"] == pytest.approx(mean) and entry["std"] == pytest.approx(statistics.stdev(values))
        assert entry["ci95"] == pytest.approx([mean - half, mean + half])
        assert entry["gain_points"] == pytest.approx(100 * (mean - real_only))
        assert entry["gain_percent"] == pytest.approx(100 * (mean - real_only) / real_only)
        assert entry["macro_f1_mean"] == pytest.approx(mean - 0.01)
        assert entry["n_synthetic"] == pytest.approx(N_REAL * entry["ratio"])
        assert entry["cross_accuracy"]["mean"] == pytest.approx(mean - 0.2)
    assert cnn["ratios"][1]["gain_points"] == pytest.approx(10.0)  # 72 % against 62 %
    synthetic_only = cnn["synthetic_only"]
    assert synthetic_only["seeds"] == 1 and synthetic_only["mean"] == pytest.approx(CNN_SYNTHETIC_ONLY)
    assert synthetic_only["std"] is None and synthetic_only["ci95"] == [None, None]
    assert synthetic_only["cross_accuracy"] is None and "gain_points" not in synthetic_only
    # 1 vs 2 differ by -2, +2, -2 points (not significant); 0 is about 11 points below 2 on every seed.
    bound = cnn["bound"]
    assert (bound["bound"], bound["best_ratio"], bound["falls_after_best"]) == (1.0, 2.0, False)
    assert bound["best_mean"] == pytest.approx(statistics.mean(CNN[2.0]))
    tiny = summary["classifiers"]["tiny"]
    assert tiny["bound"] is None and tiny["synthetic_only"] is None
    assert tiny["ratios"][0]["mean"] == pytest.approx(statistics.mean(TINY_REAL_ONLY))
    assert summary["failed_cells"] == [
        {"classifier": "cnn", "training": "real+synthetic", "ratio": 2.0, "seed": 3, "error": "out of memory"}
    ]


def test_write_report_writes_summary_table_and_plots(tmp_path):
    _results(tmp_path)
    (tmp_path / "sweep.json").write_text(json.dumps({"data": "toy", "seeds": [0, 1, 2]}))
    result = write_report(tmp_path)

    written = json.loads((tmp_path / "summary.json").read_text())
    assert written == result.summary and written["provenance"] == {"data": "toy", "seeds": [0, 1, 2]}
    pngs = ["accuracy_vs_ratio.png", "confusion_cnn_real-only.png", "confusion_cnn_best.png",
            "confusion_tiny_real-only.png"]
    assert [path.name for path in result.files] == ["summary.json", *pngs]
    for name in pngs:
        assert (tmp_path / name).stat().st_size > 0
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and min(image.size) > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["results.csv", "sweep.json", "summary.json", *pngs])

    table = result.table
    for values in CNN.values():
        mean, half = _mean_and_half_width(values)
        assert f"{100 * mean:.1f} ± {100 * half:.1f}" in table
    assert f"{100 * statistics.mean(CNN[1.0]) - 100 * statistics.mean(CNN[0.0]):+.1f}" in table  # gain in points
    assert "synthetic only" in table and "40.0" in table
    assert "bound: ratio 1 (best ratio 2, 72.7 %; accuracy falls after the best: no) — one-sided paired t-test" in table
    assert "bound: none" in table and "1 failed cell(s)" in table
    assert max(len(line) for line in table.splitlines()) <= 100


def test_augment_control_summary(tmp_path):
    summary = summarise(pd.read_csv(_results(tmp_path, augmented=True) / "results.csv"))
    cnn, without = summary["classifiers"]["cnn"], summarise(pd.read_csv(_results(tmp_path) / "results.csv"))
    control = cnn.pop("augment_control")
    assert {**cnn, "augment_control": None} == without["classifiers"]["cnn"]  # augmented rows leave the GAN alone
    assert summary["classifiers"]["tiny"]["augment_control"] is None  # no augmented rows of its own
    assert [entry["ratio"] for entry in control["ratios"]] == [0.0, 1.0, 2.0, 4.0]
    assert control["ratios"][0] == cnn["ratios"][0]  # the shared real-only baseline
    real_only = statistics.mean(CNN[0.0])
    for entry in control["ratios"][1:]:
        values = AUGMENTED[entry["ratio"]]
        mean, half = _mean_and_half_width(values)
        assert entry["seeds"] == 3 and entry["n_synthetic"] == pytest.approx(N_REAL * entry["ratio"])
        assert entry["mean"] == pytest.approx(mean) and entry["ci95"] == pytest.approx([mean - half, mean + half])
        assert entry["gain_points"] == pytest.approx(100 * (mean - real_only))
        assert entry["gain_percent"] == pytest.approx(100 * (mean - real_only) / real_only)
    # Ratio 2 is best (73 %); 1 is below it on every seed (p < 0.05), 4 is not significantly below.
    bound = control["bound"]
    assert (bound["bound"], bound["best_ratio"], bound["falls_after_best"]) == (2.0, 2.0, False)
    assert bound["p_values"]["1.0"] == pytest.approx(ttest_rel(AUGMENTED[1.0], AUGMENTED[2.0], alternative="less").pvalue)
    assert bound["p_values"]["1.0"] < 0.05 < bound["p_values"]["4.0"]
    differences = control["gan_minus_augment"]
    assert [entry["ratio"] for entry in differences] == [1.0, 2.0]  # 4 has no GAN cells
    for entry, verdict in zip(differences, ["GAN better", "no significant difference"]):
        gan, augmented = CNN[entry["ratio"]], AUGMENTED[entry["ratio"]]
        assert entry["seeds"] == 3 and entry["verdict"] == verdict
        assert entry["difference_points"] == pytest.approx(100 * (statistics.mean(gan) - statistics.mean(augmented)))
        assert entry["p_value"] == pytest.approx(ttest_rel(gan, augmented).pvalue)
    assert differences[0]["p_value"] < 0.01 and differences[1]["p_value"] > 0.3


def test_augment_control_table_and_plot(tmp_path):
    result = write_report(_results(tmp_path, augmented=True))
    assert [path.name for path in result.files][:2] == ["summary.json", "accuracy_vs_ratio.png"]
    with Image.open(tmp_path / "accuracy_vs_ratio.png") as image:
        assert image.format == "PNG" and min(image.size) > 100
    table = result.table
    blocks = table.split("\n\n")
    control = next(block for block in blocks if block.startswith(CONTROL_TITLE))
    assert blocks[blocks.index(control) - 1].startswith("cnn\n")  # right after the classifier's GAN block
    assert control.splitlines()[1].split() == ["ratio", "augmented", "seeds", "accuracy", "gain", "pts", "gain", "%",
                                               "macro-F1", "cross-data", "acc"]  # the real-only cells have one
    mean, half = _mean_and_half_width(AUGMENTED[4.0])
    assert f"{100 * mean:.1f} ± {100 * half:.1f}" in control
    assert "bound: ratio 2 (best ratio 2, 73.0 %; accuracy falls after the best: no)" in control
    p_better = ttest_rel(CNN[1.0], AUGMENTED[1.0]).pvalue
    p_level = ttest_rel(CNN[2.0], AUGMENTED[2.0]).pvalue
    assert control.splitlines()[-2:] == [
        f"GAN − augment at ratio 1: +7.3 pts (p = {p_better:.2g}, GAN better)",
        f"GAN − augment at ratio 2: -0.3 pts (p = {p_level:.2g}, no significant difference)",
    ]
    assert max(len(line) for line in table.splitlines()) <= 100
    # Without the control block, the table is the one of the same sweep without the control.
    (tmp_path / "plain").mkdir()
    plain = format_table(summarise(pd.read_csv(_results(tmp_path / "plain") / "results.csv")))
    assert "\n\n".join(block for block in blocks if block is not control) == plain


def test_without_augmented_rows_there_is_no_control(tmp_path):
    summary = summarise(pd.read_csv(_results(tmp_path) / "results.csv"))
    assert all(result["augment_control"] is None for result in summary["classifiers"].values())
    table = format_table(summary)
    assert "augmentation control" not in table and "GAN − augment" not in table
    assert [block.splitlines()[0] for block in table.split("\n\n")][1:3] == ["cnn", "tiny"]


def test_one_shared_seed_is_too_few_to_test(tmp_path):
    rows = [_row("cnn", "real+synthetic", 0.0, 0, 0.6), _row("cnn", "real+synthetic", 1.0, 0, 0.7),
            _row("cnn", "real+augmented", 1.0, 0, 0.64), _row("cnn", "real+augmented", 1.0, 1, 0.9)]
    summary = summarise(pd.DataFrame(rows))
    [difference] = summary["classifiers"]["cnn"]["augment_control"]["gan_minus_augment"]
    assert difference["seeds"] == 1 and difference["p_value"] is None
    assert difference["difference_points"] == pytest.approx(6.0) and difference["verdict"] == "too few seeds to test"
    assert "GAN − augment at ratio 1: +6.0 pts (too few seeds to test)" in format_table(summary)


def test_missing_results_is_a_user_error(tmp_path):
    with pytest.raises(FersynError, match=f"{tmp_path}: no results.csv; run `fersyn benchmark --out {tmp_path}` first"):
        write_report(tmp_path)


def test_results_without_a_successful_cell_are_a_user_error(tmp_path):
    pd.DataFrame([_row("cnn", "real+synthetic", 0.0, 0, math.nan, status="failed", error="boom")]).to_csv(
        tmp_path / "results.csv", index=False)
    with pytest.raises(FersynError, match="no successful cell"):
        write_report(tmp_path)


def test_unreadable_results_are_a_user_error(tmp_path):
    (tmp_path / "results.csv").write_text("")
    with pytest.raises(FersynError, match="cannot be read"):
        write_report(tmp_path)
