"""The verdicts' calibration (benchmarks/calibrate_verdicts.py → benchmarks/results/calibration.json): sweeps
simulated from the study's real per-face outcomes, with generator-fit noise and no mean effect, must give at
most 5 % familywise false positives; the 95 % intervals must cover the truth; the printed minimum detectable
effect must be found with about the power it claims. A rule or a record that stops meeting these fails here."""

import json
from pathlib import Path

from fersyn.analysis.rules import ALPHA, POWER

RECORD = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "calibration.json").read_text())


def test_no_more_false_verdicts_than_alpha_under_generator_fit_noise():
    null = RECORD["scenarios"]["null-per-fit-5"]
    assert null["scenario"] == {"name": "null-per-fit-5", "gain": {}, "fit_sd": 5.0, "fold_sd": 0.0}
    assert null["familywise_false_positive"]["rate"] <= ALPHA and null["familywise_false_positive"]["of"] >= 500
    assert RECORD["summary"]["false_positive_per_fit_5"] == null["familywise_false_positive"]["rate"]
    assert RECORD["design"]["generator_fits"] >= 2 and RECORD["resamples"] >= 9999


def test_the_intervals_cover_and_the_printed_mde_has_its_power():
    summary = RECORD["summary"]
    assert summary["coverage"] >= 0.93
    assert summary["power_at_printed_mde"] >= POWER - 0.02
    power = RECORD["scenarios"]["power-at-mde"]
    assert power["scenario"]["gain"] == {"1.0": summary["printed_mde_points"]}  # the true gain is the printed MDE
    assert summary["printed_mde_points"] == RECORD["scenarios"]["null-per-fit-5"]["median_mde_points"]


def test_a_peak_is_not_read_as_a_plateau():
    summary = RECORD["summary"]
    assert summary["peak_read_as_plateau"] <= ALPHA and summary["plateau_read_as_falling_back"] <= ALPHA
    assert summary["peak_read_as_falling_back"] == RECORD["scenarios"]["peak"]["read_as_falling_back"]["rate"]
