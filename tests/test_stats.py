import math
import statistics
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import t as student_t
from scipy.stats import ttest_rel

from fersyn.stats import BOUND_RULE, classification_scores, find_bound, mean_ci, paired_difference


def test_scores_of_a_hand_worked_example():
    # anger: 2 of 3 right, 1 taken for happiness; happiness: 1 of 2, 1 taken for sadness;
    # sadness: 2 of 3, 1 taken for anger; fear: neither shown nor predicted.
    true = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    predicted = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    scores = classification_scores(true, predicted, ["anger", "happiness", "sadness", "fear"])
    assert scores["confusion"] == [[2, 1, 0, 0], [0, 1, 1, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    assert scores["accuracy"] == pytest.approx(5 / 8)
    # F1 per class: anger P=R=2/3, happiness P=R=1/2, sadness P=R=2/3; fear is left out.
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    recall = scores["recall"]
    assert recall["anger"] == pytest.approx(2 / 3) and recall["happiness"] == pytest.approx(1 / 2)
    assert recall["sadness"] == pytest.approx(2 / 3) and math.isnan(recall["fear"])


def test_a_class_predicted_but_never_shown_counts_with_f1_zero():
    scores = classification_scores(np.array([0, 0]), np.array([0, 1]), ["a", "b"])
    # a: precision 1, recall 1/2 -> F1 2/3; b: one false positive -> F1 0.
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)
    assert scores["recall"]["a"] == pytest.approx(0.5) and math.isnan(scores["recall"]["b"])
    assert scores["confusion"] == [[1, 1], [0, 0]]


def test_scores_reject_labels_outside_the_emotions():
    with pytest.raises(ValueError):
        classification_scores(np.array([0, 2]), np.array([0, 1]), ["a", "b"])


def test_mean_ci_matches_a_student_t_interval():
    values = [0.61, 0.64, 0.70, 0.58]
    mean, std = statistics.mean(values), statistics.stdev(values)
    half = student_t.ppf(0.975, 3) * std / 2  # sqrt(4) = 2
    result = mean_ci(values)
    assert result["n"] == 4
    assert result["mean"] == pytest.approx(mean) and result["std"] == pytest.approx(std)
    assert result["ci95"] == pytest.approx([mean - half, mean + half])


def test_mean_ci_of_one_value_has_no_spread():
    result = mean_ci([0.5])
    assert result["n"] == 1 and result["mean"] == 0.5
    assert math.isnan(result["std"]) and all(math.isnan(x) for x in result["ci95"])


def _by_seed(table):
    return {ratio: dict(enumerate(values)) for ratio, values in table.items()}


def _one_sided_paired_p(ours, best):
    differences = [a - b for a, b in zip(ours, best)]
    n = len(differences)
    t = statistics.mean(differences) / (statistics.stdev(differences) / math.sqrt(n))
    return student_t.cdf(t, n - 1)


def test_bound_is_the_first_ratio_of_a_plateau():
    best = [0.71, 0.72, 0.70, 0.71, 0.72]
    table = {
        0: [0.60, 0.62, 0.59, 0.61, 0.60],
        1: [b + d for b, d in zip(best, [0.01, -0.02, 0.0, -0.01, -0.01])],
        2: best,
        4: [b + d for b, d in zip(best, [-0.01, 0.01, 0.0, -0.02, 0.01])],
    }
    result = find_bound(_by_seed(table))
    assert result["bound"] == 1 and result["best_ratio"] == 2
    assert result["best_mean"] == pytest.approx(statistics.mean(best))
    assert result["falls_after_best"] is False
    assert result["method"] == "one-sided paired t-test over 5 seeds, alpha 0.05"
    assert result["p_values"]["2"] is None
    assert result["p_values"]["1"] == pytest.approx(_one_sided_paired_p(table[1], best))
    assert result["p_values"]["1"] > 0.05 and result["p_values"]["0"] < 0.001


def test_a_significant_drop_after_the_best_is_reported():
    table = {0: [0.60, 0.62, 0.61], 1: [0.70, 0.72, 0.73], 2: [0.62, 0.65, 0.63]}
    result = find_bound(_by_seed(table))
    assert (result["bound"], result["best_ratio"], result["falls_after_best"]) == (1, 1, True)
    assert result["p_values"]["2"] == pytest.approx(_one_sided_paired_p(table[2], table[1]))


def test_two_seeds_compare_confidence_intervals():
    # ratio 0: CI about [58.8, 61.4] %, below ratio 1's [67.7, 72.7] %; ratio 2 is too spread to tell.
    table = {0: [0.600, 0.602], 1: [0.700, 0.704], 2: [0.650, 0.750]}
    result = find_bound(_by_seed(table))
    assert (result["bound"], result["best_ratio"], result["falls_after_best"]) == (1, 1, False)
    assert "confidence-interval overlap" in result["method"] and "2 seeds" in result["method"]
    assert set(result["p_values"].values()) == {None}


def test_one_seed_allows_no_test():
    result = find_bound({0: {0: 0.60}, 1: {0: 0.70}, 2: {0: 0.65}})
    assert (result["bound"], result["best_ratio"], result["falls_after_best"]) == (0, 1, False)
    assert "no test" in result["method"] and "one seed" in result["method"]


def test_bound_zero_when_no_ratio_beats_real_only():
    table = {0: [0.70, 0.71, 0.69], 1: [0.69, 0.70, 0.70], 2: [0.60, 0.62, 0.61]}
    result = find_bound(_by_seed(table))
    assert (result["bound"], result["best_ratio"], result["falls_after_best"]) == (0, 0, True)


def test_equal_differences_on_every_seed_decide_without_a_t_statistic():
    same = find_bound(_by_seed({0: [0.7, 0.8, 0.9], 1: [0.7, 0.8, 0.9]}))
    assert (same["bound"], same["best_ratio"]) == (0, 0)  # a tie goes to the smaller ratio
    assert same["p_values"]["1"] == 1.0
    constant_gain = find_bound(_by_seed({0: [0.6, 0.7, 0.8], 1: [0.7, 0.8, 0.9]}))
    assert constant_gain["bound"] == 1 and constant_gain["p_values"]["0"] == 0.0


def test_paired_difference_is_a_two_sided_paired_t_test_over_shared_seeds():
    gan, augmented = [0.70, 0.74, 0.72, 0.71], [0.63, 0.66, 0.65, 0.64]
    a = dict(enumerate(gan)) | {9: 0.99}  # seeds the other lacks do not count
    b = dict(enumerate(augmented)) | {8: 0.10}
    result = paired_difference(a, b)
    assert result["seeds"] == 4
    assert result["difference"] == pytest.approx(statistics.mean(gan) - statistics.mean(augmented))
    assert result["p_value"] == pytest.approx(ttest_rel(gan, augmented).pvalue) and result["significant"] is True
    noise = paired_difference(dict(enumerate([0.72, 0.72, 0.74])), dict(enumerate([0.73, 0.71, 0.75])))
    assert noise["p_value"] == pytest.approx(ttest_rel([0.72, 0.72, 0.74], [0.73, 0.71, 0.75]).pvalue)
    assert noise["p_value"] > 0.05 and noise["significant"] is False
    assert paired_difference(a, b, alpha=1e-9)["significant"] is False


def test_paired_difference_without_a_t_statistic():
    two = paired_difference({0: 0.7, 1: 0.8}, {0: 0.6, 1: 0.6})
    assert (two["seeds"], two["p_value"], two["significant"]) == (2, None, None)
    assert two["difference"] == pytest.approx(0.15)
    none = paired_difference({0: 0.7}, {1: 0.6})
    assert none["seeds"] == 0 and math.isnan(none["difference"]) and none["significant"] is None
    constant = paired_difference({0: 0.6, 1: 0.7, 2: 0.8}, {0: 0.5, 1: 0.6, 2: 0.7})  # +0.1 on every seed
    assert constant["p_value"] is None and constant["significant"] is True
    same = paired_difference({0: 0.6, 1: 0.7, 2: 0.8}, {0: 0.6, 1: 0.7, 2: 0.8})
    assert same["p_value"] is None and same["significant"] is False and same["difference"] == 0


def test_rule_and_import_stay_light():
    assert "0.05" in BOUND_RULE and "paired t-test" in BOUND_RULE
    code = "import sys, fersyn.stats; print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
