"""Sweep statistics: classification scores, the joint bootstrap over test subjects and seeds, gains
with Holm-corrected p-values, the minimum detectable effect, the equivalence bound and the verdict —
checked on tables with a known answer and against independent computations (normal approximation,
statsmodels' paired TOST and Holm)."""

import math
import re
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired

from fersyn.analysis.rules import ALPHA, POWER, REAL_ONLY_ARM, RULES
from fersyn.analysis.scores import classification_scores
from fersyn.analysis.stats import Arm, analyse

FACES = 400


def nested(table, faces=FACES, curve="synthetic"):
    """Correctness arrays for `table[(curve, ratio)] = accuracy per seed`: faces ranked by one difficulty
    order, a model of accuracy a getting the easiest a × faces right (so arms agree on easy faces, as
    real models do). A plain ratio key stands for `curve`; ratio 0 is real only."""
    arms, rows = [], []
    for key, per_seed in table.items():
        name, ratio = key if isinstance(key, tuple) else (curve, key)
        arms.append(Arm(REAL_ONLY_ARM, 0.0) if ratio == 0 else Arm(name, float(ratio)))
        rows.append([np.arange(faces) < round(accuracy * faces) for accuracy in per_seed])
    return np.array(rows, dtype=float), np.arange(faces), arms


def curve_of(result, name="synthetic"):
    return result["curves"][name]


def by_ratio(curve):
    return {entry["ratio"]: entry for entry in curve["ratios"]}


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



def test_a_later_ratio_beating_real_only_never_gives_bound_zero():
    # The counterexample: the old rule said bound 0 although ratio 2 beats ratio 0 at p = 0.0005.
    correct, groups, arms = nested({0: [0.70, 0.71, 0.72], 1: [0.90, 0.70, 0.75], 2: [0.75, 0.765, 0.77]})
    curve = curve_of(analyse(correct, groups, arms, resamples=2000))
    two = by_ratio(curve)[2.0]
    assert two["gain"] == pytest.approx((0.05 + 0.055 + 0.05) / 3) and two["gain_significant"]
    assert two["gain_ci95"][0] > 0.01  # the gain exceeds the margin, so real only cannot be within it
    assert curve["bound"]["ratio"] != 0 and not by_ratio(curve)[0.0]["within_margin"]
    assert curve["verdict"].startswith("synthetic data helps")


def test_a_noisy_real_only_is_not_taken_for_as_good_as_the_best():
    # The other counterexample (low-data-real-identity): real only, noisy and 7 points below the best,
    # was "not significantly below" it, so the old bound was 0, while ratio 5, above real only, was "below".
    correct, groups, arms = nested({0: [0.700, 0.750, 0.735], 0.5: [0.800, 0.790, 0.795], 5: [0.730, 0.735, 0.737]})
    curve = curve_of(analyse(correct, groups, arms, resamples=2000))
    entries = by_ratio(curve)
    assert not entries[0.0]["within_margin"] and not entries[5.0]["within_margin"]
    assert curve["bound"]["ratio"] != 0 and curve["best"]["ratio"] == 0.5
    assert not curve["verdict"].startswith("no gain")


def test_a_plateau_gives_its_first_ratio_as_the_bound():
    # Ratios 2 and 3 get exactly ratio 1's faces right: no resample can separate them.
    correct, groups, arms = nested({0: [0.60, 0.61, 0.62], 1: [0.75, 0.76, 0.74], 2: [0.75, 0.76, 0.74],
                                    3: [0.75, 0.76, 0.74]})
    curve = curve_of(analyse(correct, groups, arms, resamples=2000))
    assert curve["bound"]["ratio"] == 1.0 and curve["bound"]["conclusive"]
    assert curve["bound"]["estimate"] == 1.0 and curve["bound"]["estimate_ci95"] == [1.0, 1.0]
    assert curve["best"]["ratio"] == 1.0  # ties go to the smaller ratio
    assert curve["verdict"].startswith("synthetic data helps up to ratio 1 ")


def test_a_bound_at_the_largest_ratio_tried_says_so():
    correct, groups, arms = nested({0: [0.60, 0.61, 0.62], 1: [0.70, 0.71, 0.72], 2: [0.80, 0.81, 0.82]})
    curve = curve_of(analyse(correct, groups, arms, resamples=2000))
    assert curve["bound"]["ratio"] == 2.0
    assert curve["verdict"].startswith("synthetic data helps up to at least ratio 2, the largest tried")


def test_harm_from_a_ratio_and_real_only_as_the_bound():
    correct, groups, arms = nested({0: [0.80, 0.81, 0.79], 1: [0.80, 0.81, 0.79], 2: [0.70, 0.72, 0.71]})
    curve = curve_of(analyse(correct, groups, arms, resamples=2000))
    assert curve["bound"]["ratio"] == 0.0
    assert by_ratio(curve)[2.0]["gain_significant"] and not by_ratio(curve)[1.0]["gain_significant"]
    assert curve["verdict"].startswith("synthetic data hurts at ratio(s) 2 (ratio 2: -9.0 points")


def test_noise_alone_is_inconclusive_with_the_minimum_detectable_effect():
    rng = np.random.default_rng(3)
    correct = (rng.random((3, 3, 120)) < 0.7).astype(float)
    arms = [Arm(REAL_ONLY_ARM, 0.0), Arm("synthetic", 1.0), Arm("synthetic", 2.0)]
    curve = curve_of(analyse(correct, np.arange(120), arms, resamples=2000))
    assert curve["bound"]["ratio"] is None and not curve["bound"]["conclusive"]
    assert curve["verdict"].startswith("inconclusive: no gain or loss is significant")
    assert f"minimum detectable effect {100 * curve['mde']:.1f} points" in curve["verdict"]
    assert 0.05 < curve["mde"] < 0.5


def test_the_verdict_only_claims_what_the_tests_show():
    # Many random tables: every clause of the verdict must restate a test the summary holds.
    rng = np.random.default_rng(0)
    for trial in range(12):
        base = rng.uniform(0.55, 0.8)
        table = {r: list(np.clip(base + rng.normal(shift, 0.02, 3), 0, 1))
                 for r, shift in zip((0, 1, 2, 4), [0, *rng.normal(0, 0.06, 3)])}
        curve = curve_of(analyse(*nested(table, faces=200), resamples=1000, max_resamples=4000, random_seed=trial))
        entries, text = by_ratio(curve), curve["verdict"]
        helped = [e for e in entries.values() if e.get("gain_significant") and e["gain"] > 0]
        hurt = [e for e in entries.values() if e.get("gain_significant") and e["gain"] < 0]
        assert ("data helps" in text) == bool(helped), text
        found = re.search(r"hurts at ratio\(s\) ([\d., ]+) \(", text)
        assert (found is not None) == bool(hurt), text
        if found:
            assert [float(r) for r in found[1].split(", ")] == [e["ratio"] for e in hurt]
        found = re.search(r"helps up to (?:at least )?ratio ([\d.]+)", text)
        if found:
            assert entries[float(found[1])]["within_margin"] and float(found[1]) == curve["bound"]["ratio"]
        if text.startswith("inconclusive"):
            assert not helped and not hurt and curve["bound"]["ratio"] != 0
            assert ("real only is not" in text) == (curve["bound"]["ratio"] is not None)
        if text.startswith("no gain larger than"):
            assert curve["bound"]["ratio"] == 0 and not helped and not hurt
        bound = curve["bound"]["ratio"]
        if bound is not None:  # the bound is the smallest ratio shown within the margin
            assert entries[bound]["within_margin"]
            assert not any(e["within_margin"] for r, e in entries.items() if r < bound)


def test_a_gain_interval_matches_the_normal_approximation_of_paired_differences():
    rng = np.random.default_rng(1)
    faces = 3000
    real_only = rng.random(faces) < 0.70
    synthetic = np.where(rng.random(faces) < 0.5, real_only, rng.random(faces) < 0.80)
    correct = np.array([[real_only], [synthetic]], dtype=float)  # one seed: faces alone are resampled
    curve = curve_of(analyse(correct, np.arange(faces), [Arm(REAL_ONLY_ARM, 0.0), Arm("synthetic", 1.0)], resamples=4000))
    differences = synthetic.astype(float) - real_only
    half = scipy_stats.norm.ppf(0.975) * differences.std(ddof=1) / math.sqrt(faces)
    gain = by_ratio(curve)[1.0]
    assert gain["gain"] == pytest.approx(differences.mean())
    assert gain["gain_ci95"] == pytest.approx([differences.mean() - half, differences.mean() + half], abs=0.003)
    assert gain["gain_se"] == pytest.approx(differences.std(ddof=1) / math.sqrt(faces), rel=0.1)


def test_equivalence_agrees_with_a_paired_tost():
    rng = np.random.default_rng(2)
    faces = 4000
    real_only = (rng.random(faces) < 0.70).astype(float)
    best = (rng.random(faces) < 0.80).astype(float)
    close = best.copy()
    flipped = rng.choice(faces, 40, replace=False)  # 1 % of the faces flipped both ways: a tiny difference
    close[flipped] = 1 - close[flipped]
    correct = np.array([[real_only], [best], [close]])
    arms = [Arm(REAL_ONLY_ARM, 0.0), Arm("synthetic", 1.0), Arm("synthetic", 2.0)]
    curve = curve_of(analyse(correct, np.arange(faces), arms, margin=0.01, resamples=4000))
    for ratio, scores in ((2.0, close), (0.0, real_only)):
        p_tost = ttost_paired(scores, best, -0.01, 0.01)[0]
        assert by_ratio(curve)[ratio]["within_margin"] == (p_tost < ALPHA), ratio
    assert by_ratio(curve)[2.0]["within_margin"] and curve["bound"]["ratio"] == 1.0  # 1 is the best itself


def test_gain_p_values_are_holm_corrected_and_the_mde_follows_its_formula():
    correct, groups, arms = nested({0: [0.70, 0.71, 0.69], 0.5: [0.72, 0.70, 0.73], 1: [0.74, 0.73, 0.76],
                                    2: [0.71, 0.69, 0.70]})
    curve = curve_of(analyse(correct, groups, arms, resamples=2000))
    tested = [e for e in curve["ratios"] if e["ratio"] > 0]
    expected = multipletests([e["gain_p"] for e in tested], method="holm")[1]
    assert [e["gain_p_holm"] for e in tested] == pytest.approx(list(expected))
    z = scipy_stats.norm.ppf(1 - ALPHA / (2 * len(tested))) + scipy_stats.norm.ppf(POWER)
    for entry in tested:
        assert entry["gain_mde"] == pytest.approx(z * entry["gain_se"])
        assert entry["gain_significant"] == (entry["gain_p_holm"] < ALPHA)
    assert curve["mde"] == pytest.approx(z * np.median([e["gain_se"] for e in tested]))


def test_efficiency_against_the_positive_control_and_the_difference_to_augmentation():
    table = {0: [0.60, 0.62, 0.61], ("unused real", 1): [0.80, 0.82, 0.81], ("synthetic", 1): [0.70, 0.72, 0.71],
             ("augmented", 1): [0.66, 0.68, 0.67]}
    result = analyse(*nested(table), control="unused real", compare=[("synthetic", "augmented")], resamples=2000)
    [efficiency] = result["efficiency"]["synthetic"]
    assert efficiency["ratio"] == 1.0 and efficiency["value"] == pytest.approx(0.5)
    assert efficiency["ci95"][0] <= 0.5 <= efficiency["ci95"][1] and efficiency["control_gain_significant"]
    assert result["efficiency"]["augmented"][0]["value"] == pytest.approx(0.3)
    [comparison] = result["comparisons"]
    assert comparison["curves"] == ["synthetic", "augmented"]
    assert comparison["ratios"][0]["value"] == pytest.approx(0.04) and comparison["ratios"][0]["significant"]


def test_subjects_are_resampled_whole():
    # Ten near-copies per subject: intervals must be as wide as ten times fewer independent faces give.
    rng = np.random.default_rng(4)
    per_subject = rng.random((2, 1, 60)) < np.array([0.6, 0.7])[:, None, None]
    copies = np.repeat(per_subject, 10, axis=2).astype(float)
    arms = [Arm(REAL_ONLY_ARM, 0.0), Arm("synthetic", 1.0)]
    grouped = analyse(copies, np.repeat(np.arange(60), 10), arms, resamples=2000)["arms"][0]
    as_faces = analyse(copies, np.arange(600), arms, resamples=2000)["arms"][0]
    width = lambda arm: arm["ci95"][1] - arm["ci95"][0]  # noqa: E731
    assert width(grouped) > 2.5 * width(as_faces)


def test_bad_input_is_refused():
    correct, groups, arms = nested({0: [0.7], 1: [0.8]})
    with pytest.raises(ValueError, match="real only at ratio 0"):
        analyse(correct, groups, [Arm("synthetic", 0.5), arms[1]])
    with pytest.raises(ValueError, match="missing values"):
        analyse(np.where(correct > 0, np.nan, correct), groups, arms)
    with pytest.raises(ValueError, match="one group per face"):
        analyse(correct, groups[:-1], arms)


def test_rules_and_import_stay_light():
    assert "Holm" in RULES and "bootstrap" in RULES and "inconclusive" in RULES
    code = "import sys, fersyn.analysis.stats; print(sorted(m for m in ('numpy', 'scipy', 'statsmodels') if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_a_peak_reads_as_falling_back_not_as_a_plateau():
    # The example: real only 70, ratio 0.5 at 76, ratios 1-3 back at 70.
    correct, groups, arms = nested({0: [0.69, 0.70, 0.71], 0.5: [0.75, 0.76, 0.77], 1: [0.69, 0.70, 0.71],
                                    2: [0.69, 0.70, 0.71], 3: [0.69, 0.70, 0.71]})
    curve = curve_of(analyse(correct, groups, arms, resamples=2000))
    entries = by_ratio(curve)
    assert curve["bound"]["ratio"] == 0.5 and curve["best"]["ratio"] == 0.5
    assert all(entries[r]["falls_back"] and entries[r]["fall"] == pytest.approx(0.06) for r in (1.0, 2.0, 3.0))
    assert curve["verdict"].startswith("synthetic data helps up to ratio 0.5 (ratio 0.5: +6.0 points")
    assert "then falls back: by 6.0 points" in curve["verdict"] and "flat" not in curve["verdict"]


def test_a_plateau_reads_as_flat_within_the_margin():
    correct, groups, arms = nested({0: [0.69, 0.70, 0.71], 0.5: [0.75, 0.76, 0.77], 1: [0.75, 0.76, 0.77],
                                    2: [0.75, 0.76, 0.77], 3: [0.75, 0.76, 0.77]})
    curve = curve_of(analyse(correct, groups, arms, resamples=2000))
    assert not any(e.get("falls_back") for e in curve["ratios"])
    assert curve["verdict"].startswith("synthetic data helps up to ratio 0.5 (ratio 0.5: +6.0 points")
    assert curve["verdict"].endswith("then stays flat within 1 point(s) up to ratio 3")


def _two_folds(gain_per_seed):
    """Two folds of 100 faces, four seeds: real only at 70 %, ratio 1 at 70 % + each seed's gain."""
    table = {0: [0.70] * 4, 1: [0.70 + gain for gain in gain_per_seed]}
    correct, groups, arms = nested(table, faces=200)
    return correct, groups, arms, np.arange(200) % 2  # the folds take every other face of the difficulty order


def test_fits_that_disagree_widen_the_interval_and_show_in_the_heterogeneity():
    # Seeds 0, 2 used fit 0 and seeds 1, 3 fit 1 in each fold. Both tables have a mean gain of 5 points.
    agreeing = _two_folds([0.05, 0.05, 0.05, 0.05])
    disagreeing = _two_folds([0.10, 0.0, 0.10, 0.0])
    width = {}
    for name, (correct, groups, arms, strata) in {"agreeing": agreeing, "disagreeing": disagreeing}.items():
        result = analyse(correct, groups, arms, strata=strata, units=[0, 1, 0, 1], resamples=2000)
        [entry] = [e for e in curve_of(result)["ratios"] if e["ratio"] == 1.0]
        assert entry["gain"] == pytest.approx(0.05)
        width[name] = entry["gain_ci95"][1] - entry["gain_ci95"][0]
        fits = entry["heterogeneity"]["between_units"]
        assert fits["df"] == 2 and (fits["p"] < 0.01) == (name == "disagreeing")
        assert result["design"] == {"strata": 2, "units_per_stratum": 2, "units_drawn": 1, "models": 4}
    assert width["disagreeing"] > 1.8 * width["agreeing"]
    # One fit for every seed: the same disagreement is the seeds', still resampled (3 of 4 drawn).
    correct, groups, arms, strata = disagreeing
    seeds_only = curve_of(analyse(correct, groups, arms, strata=strata, resamples=2000))["ratios"][1]
    assert seeds_only["gain_ci95"][1] - seeds_only["gain_ci95"][0] > 1.5 * width["agreeing"]


def test_units_are_drawn_one_fewer_so_two_fits_give_the_variance_of_their_mean():
    # One stratum, two fits with gains 0 and 10 points on identical faces: drawing 1 of 2, the gain is 0 or 10 with
    # equal chance, an SD of 5 points: the SD of the mean of two fits whose SD is 7.1 (sample SD of 0 and 10).
    correct, _, arms = nested({0: [0.70, 0.70], 1: [0.70, 0.80]}, faces=200)
    entry = curve_of(analyse(correct, np.arange(200), arms, units=[0, 1], resamples=4000))["ratios"][1]
    assert entry["gain_se"] == pytest.approx(np.std([0.0, 0.10], ddof=1) / np.sqrt(2), rel=0.1)


def test_a_p_value_at_the_floor_is_flagged_and_a_borderline_one_is_resampled_more():
    correct, groups, arms = nested({0: [0.60, 0.61, 0.62], 1: [0.80, 0.81, 0.82]})
    entry = curve_of(analyse(correct, groups, arms, resamples=999))["ratios"][1]
    assert entry["gain_p_at_floor"] and entry["gain_p"] == pytest.approx(2 / 1000) and entry["gain_significant"]
    # A noisy gain: its p lands near 0.05 for some seeds of the bootstrap's RNG.
    rng = np.random.default_rng(7)
    real_only = (rng.random((1, 400)) < 0.7).astype(float)
    found = False
    for seed in range(40):
        shift = (rng.random((1, 400)) < 0.5) * (rng.random((1, 400)) < 0.16)
        correct = np.stack([real_only, np.clip(real_only + shift, 0, 1)])
        result = analyse(correct, np.arange(400), arms, resamples=999, max_resamples=9999, random_seed=seed)
        entry = curve_of(result)["ratios"][1]
        if result["resamples"] > 999:
            found = True
            # After 9999 resamples the decision is either clear or labelled borderline, never both.
            assert not (entry["gain_borderline"] and entry["gain_significant"])
            assert entry["gain_borderline"] == (abs(entry["gain_p_holm"] - ALPHA) < 3 * entry["gain_p_holm"] * math.sqrt(
                (1 - entry["gain_p"] / 2) / (9999 * entry["gain_p"] / 2)))
            break
    assert found, "no table near the threshold: the test lost its subject"
