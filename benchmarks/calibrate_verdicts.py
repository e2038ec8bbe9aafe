"""Calibrate fersyn's verdicts by simulation from real per-face outcomes (issue 26, item 6).

The study's low-data sweep (benchmarks/results/low-data) gives, for each of its 927 test faces (5 subject
folds, 106 subjects), how often the sweep's 60-odd classifiers of that face's fold got it right: a face's
difficulty, with the subjects' clustering and the folds as they are. Each simulated sweep draws every
cell's right-or-wrong on every test face from those difficulties (a logistic model), adds the noise of a
classifier seed (an accuracy shift per cell, its SD measured in the same sweep) and that of a generator fit
(a shift per fold and fit, shared by every ratio of the synthetic curve: one generator feeds them all),
then runs fersyn's analysis (`fersyn.analysis.stats.analyse`, as `fersyn report` calls it) on one synthetic curve:
real only and ratios 0.5, 1, 2, 3, 5, 10, as the study's.

Scenarios, each `--sims` simulated sweeps:
  null-no-generator-variation   no effect, no fit noise
  null-per-fit-3 / -5           no mean effect; every generator fit shifts its curve by N(0, 3 or 5 points)
  null-per-fold-3 / -5          no mean effect; every fold's fits share one shift (a fold's data, not its fit)
  coverage-effect-3             a true gain of 3 points at every ratio, per-fit SD 5: do 95 % intervals hold it?
  power-at-mde                  the median printed MDE (of null-per-fit-5) as the true gain at ratio 1 only
  peak                          +6 points at ratio 0.5, none from 1 on (per-fit SD 3): read as a plateau?
  plateau                       +6 points at every ratio (per-fit SD 3): read as falling back?

And the stability of the recorded verdicts: every setting of benchmarks/results summarised again under
`--stability` different seeds of the bootstrap's RNG; a verdict that changes with them is a failure of the
adaptive resampling (RULES: a decision near alpha is resampled more, or called borderline).

Writes benchmarks/results/calibration.json: per scenario the rate and its 95 % Wilson interval, and per
setting the distinct verdicts and the range of each corrected p-value over the RNG seeds.

    python benchmarks/calibrate_verdicts.py [--sims 200] [--seeds 2] [--fits 2] [--resamples 9999] [--workers 2]
                                            [--stability 5]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "benchmarks" / "results" / "low-data"
OUT = ROOT / "benchmarks" / "results" / "calibration.json"
RATIOS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0)


@dataclass(frozen=True)
class Scenario:
    name: str
    gain: dict  # ratio -> true gain in points (missing: 0)
    fit_sd: float = 0.0  # points, per (fold, fit)
    fold_sd: float = 0.0  # points, per fold (shared by its fits)


@dataclass(frozen=True)
class Faces:
    """The real test faces: each one's fold, subject and logit of its chance of being right."""

    fold: np.ndarray
    subject: np.ndarray
    logit: np.ndarray
    seed_sd: float  # logit SD of a classifier seed's shift, measured among the real-only cells

    @property
    def slope(self) -> float:
        """Points of accuracy per unit of logit shift, near 0 (mean p(1 − p))."""
        p = 1 / (1 + np.exp(-self.logit))
        return float(np.mean(p * (1 - p)))


def real_faces() -> Faces:
    sweep = json.loads((SOURCE / "sweep.json").read_text())
    rows = pd.read_csv(SOURCE / "results.csv", dtype={"test_predictions": str})
    rows = rows[rows["status"] == "ok"]
    folds, subjects, logits, seed_shifts = [], [], [], []
    for fold, faces in enumerate(sweep["test_faces"]["folds"]):
        labels = np.asarray(faces["labels"])
        cells = rows[rows["fold"] == fold]
        right = np.array([[int(c) for c in predicted] for predicted in cells["test_predictions"]]) == labels
        share = right.mean(0).clip(0.02, 0.98)  # no face is certain: a cell can always err
        logits.append(np.log(share / (1 - share)))
        folds.append(np.full(len(labels), fold))
        subjects.append([f"{fold}/{g}" for g in faces["groups"]])
        real_only = right[(cells["training"] == "real-only").to_numpy()].mean(1)
        seed_shifts.append(real_only - real_only.mean())
    faces = Faces(np.concatenate(folds), np.concatenate(subjects), np.concatenate(logits), 0.0)
    spread = np.concatenate(seed_shifts)
    # The seeds' spread of accuracy, less the binomial noise of scoring ~185 faces, on the logit scale.
    binomial = np.mean([0.75 * 0.25 / 185])
    points = math.sqrt(max(spread.var(ddof=len(sweep["test_faces"]["folds"])) - binomial, 0.0))
    return Faces(faces.fold, faces.subject, faces.logit, points / faces.slope)


def expected_accuracy(faces: Faces, shift: float, fit_sd: float, fold_sd: float) -> float:
    """Mean chance of being right over the faces, the seeds' and the generators' shifts (Gauss–Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(24)
    weights = weights / weights.sum()
    spread = math.sqrt(faces.seed_sd ** 2 + ((fit_sd ** 2 + fold_sd ** 2) ** 0.5 / (100 * faces.slope)) ** 2)
    logits = faces.logit[:, None] + shift + spread * nodes[None, :]
    return float((1 / (1 + np.exp(-logits)) @ weights).mean())


def logit_shift(faces: Faces, gain_points: float, fit_sd: float, fold_sd: float) -> float:
    """The shift of a synthetic arm that gives it a true expected gain of `gain_points` over real only."""
    from scipy.optimize import brentq

    target = expected_accuracy(faces, 0.0, 0.0, 0.0) + gain_points / 100
    return brentq(lambda x: expected_accuracy(faces, x, fit_sd, fold_sd) - target, -5, 5)


def drawn_subjects(faces: Faces, rng: np.random.Generator) -> Faces:
    """The test faces of a new sweep: in each fold as many subjects as it has, drawn from its own with
    replacement (a subject drawn twice stands for two alike), so that the truth is the pool's."""
    chosen, names = [], []
    for fold in np.unique(faces.fold):
        subjects = np.unique(faces.subject[faces.fold == fold])
        for draw, subject in enumerate(rng.choice(subjects, len(subjects))):
            rows = np.flatnonzero(faces.subject == subject)
            chosen.append(rows)
            names += [f"{subject}#{draw}"] * len(rows)
    rows = np.concatenate(chosen)
    return Faces(faces.fold[rows], np.asarray(names), faces.logit[rows], faces.seed_sd)


def simulate(faces: Faces, scenario: Scenario, seeds: int, fits: int, ratio_shifts: list[float],
             rng: np.random.Generator) -> np.ndarray:
    """correct[arm, seed, face]: real only, then the synthetic curve's ratios."""
    n_folds = int(faces.fold.max() + 1)
    fit_shift = rng.normal(0, scenario.fit_sd / (100 * faces.slope), (n_folds, fits))
    fit_shift += rng.normal(0, scenario.fold_sd / (100 * faces.slope), (n_folds, 1))
    shifts = [0.0, *ratio_shifts]
    correct = np.empty((len(shifts), seeds, len(faces.logit)))
    for arm, shift in enumerate(shifts):
        cell = rng.normal(0, faces.seed_sd, (n_folds, seeds))  # every cell is its own trained model
        for seed in range(seeds):
            logit = faces.logit + shift + cell[faces.fold, seed]
            if arm:
                logit = logit + fit_shift[faces.fold, seed % fits]
            correct[arm, seed] = rng.random(len(logit)) < 1 / (1 + np.exp(-logit))
    return correct


_SHIFTS: dict = {}


def logit_shift_cached(faces: Faces, scenario: Scenario, ratio: float) -> float:
    key = (scenario.gain.get(ratio, 0.0), scenario.fit_sd, scenario.fold_sd)
    if key not in _SHIFTS:
        _SHIFTS[key] = logit_shift(faces, *key)
    return _SHIFTS[key]


def one_sweep(job: tuple) -> dict:
    """Simulate one sweep and read what fersyn's analysis says of it."""
    from fersyn.analysis.rules import REAL_ONLY_ARM
    from fersyn.analysis.stats import Arm, analyse

    faces, scenario, seeds, fits, resamples, seed = job
    rng = np.random.default_rng([seed, 26])
    shifts = [logit_shift_cached(faces, scenario, r) for r in RATIOS]  # of the whole pool: the truth is its
    faces = drawn_subjects(faces, rng)
    correct = simulate(faces, scenario, seeds, fits, shifts, rng)
    arms = [Arm(REAL_ONLY_ARM, 0.0)] + [Arm("synthetic", r) for r in RATIOS]
    strata = faces.fold
    units = None if fits == 1 else [s % fits for s in range(seeds)]
    result = analyse(correct, faces.subject, arms, strata=strata, units=units, resamples=resamples, random_seed=seed)
    curve = result["curves"]["synthetic"]
    entries = [e for e in curve["ratios"] if e["ratio"] > 0]
    true = {r: scenario.gain.get(r, 0.0) / 100 for r in RATIOS}
    return {
        "any_significant": any(e["gain_significant"] for e in entries),
        "covered": [e["gain_ci95"][0] <= true[e["ratio"]] <= e["gain_ci95"][1] for e in entries],
        "significant_at_1": next(e for e in entries if e["ratio"] == 1.0)["gain_significant"]
        and next(e for e in entries if e["ratio"] == 1.0)["gain"] > 0,
        "mde": curve["mde"],
        "reads_flat": "stays flat" in curve["verdict"],
        "reads_falling": "falls back" in curve["verdict"],
        "borderline": result["borderline"],
        "folds_differ": next(e for e in entries if e["ratio"] == 1.0)["heterogeneity"]["between_strata"]["p"] < 0.05,
    }


def verdict_stability(folder: Path, rng_seeds: int) -> dict:
    """The verdicts and corrected gain p-values of one recorded sweep, summarised under `rng_seeds` seeds of the
    bootstrap's RNG."""
    from fersyn.analysis.report import _checked, summarise
    from fersyn.sweep.store import read_results, read_sweep

    rows, sweep = _checked(read_results(folder), str(folder)), read_sweep(folder)
    verdicts: dict = {}
    p_values: dict = {}
    for rng_seed in range(rng_seeds):
        summary = summarise(rows, sweep, random_seed=rng_seed)
        for classifier, result in summary["classifiers"].items():
            for curve, numbers in (result["analysis"] or {}).get("curves", {}).items():
                verdicts.setdefault(f"{classifier}: {curve}", set()).add(numbers["verdict"])
                for entry in numbers["ratios"][1:]:
                    p_values.setdefault(f"{classifier}: {curve} {entry['ratio']:g}", []).append(entry["gain_p_holm"])
    return {"verdicts": {name: sorted(texts) for name, texts in verdicts.items()},
            "stable": all(len(texts) == 1 for texts in verdicts.values()),
            "gain_p_holm_range": {name: [min(ps), max(ps)] for name, ps in p_values.items()}}


def wilson(hits: int, total: int) -> list[float]:
    from statsmodels.stats.proportion import proportion_confint

    return [float(x) for x in proportion_confint(hits, total, method="wilson")]


def rate(outcomes: list[bool]) -> dict:
    hits = int(sum(outcomes))
    return {"rate": hits / len(outcomes), "ci95": wilson(hits, len(outcomes)), "of": len(outcomes)}


def run(faces: Faces, scenario: Scenario, arguments: argparse.Namespace, pool: ProcessPoolExecutor) -> list[dict]:
    jobs = [(faces, scenario, arguments.seeds, arguments.fits, arguments.resamples, arguments.seed * 100_000 + i)
            for i in range(arguments.sims)]
    started = time.perf_counter()
    outcomes = list(pool.map(one_sweep, jobs, chunksize=4))
    print(f"{scenario.name}: {arguments.sims} sweeps in {time.perf_counter() - started:.0f} s", flush=True)
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=2, help="classifier seeds per fold")
    parser.add_argument("--fits", type=int, default=2, help="generator fits per fold (seed s uses fit s mod N)")
    parser.add_argument("--resamples", type=int, default=9999)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stability", type=int, default=5, help="bootstrap RNG seeds per recorded setting (0: skip)")
    parser.add_argument("--out", default=str(OUT))
    arguments = parser.parse_args()
    faces = real_faces()
    print(f"{len(faces.logit)} faces, {len(set(faces.subject))} subjects; seed SD {faces.seed_sd:.3f} logit "
          f"({100 * faces.seed_sd * faces.slope:.1f} points)", flush=True)
    everywhere = lambda points: {r: points for r in RATIOS}  # noqa: E731
    nulls = [Scenario("null-no-generator-variation", {}), Scenario("null-per-fit-3", {}, fit_sd=3),
             Scenario("null-per-fit-5", {}, fit_sd=5), Scenario("null-per-fold-3", {}, fold_sd=3),
             Scenario("null-per-fold-5", {}, fold_sd=5)]
    results: dict = {}
    with ProcessPoolExecutor(arguments.workers) as pool:
        for scenario in nulls:
            outcomes = run(faces, scenario, arguments, pool)
            results[scenario.name] = {"scenario": asdict(scenario),
                                      "familywise_false_positive": rate([o["any_significant"] for o in outcomes]),
                                      "coverage": rate([c for o in outcomes for c in o["covered"]]),
                                      "median_mde_points": 100 * float(np.median([o["mde"] for o in outcomes])),
                                      "folds_differ_at_ratio_1": rate([o["folds_differ"] for o in outcomes]),
                                      "borderline_sweeps": rate([o["borderline"] > 0 for o in outcomes])}
        mde = results["null-per-fit-5"]["median_mde_points"]
        effects = [Scenario("coverage-effect-3", everywhere(3.0), fit_sd=5),
                   Scenario("power-at-mde", {1.0: mde}, fit_sd=5),
                   Scenario("peak", {0.5: 6.0}, fit_sd=3), Scenario("plateau", everywhere(6.0), fit_sd=3)]
        for scenario in effects:
            outcomes = run(faces, scenario, arguments, pool)
            results[scenario.name] = {"scenario": asdict(scenario),
                                      "coverage": rate([c for o in outcomes for c in o["covered"]]),
                                      "detected_at_ratio_1": rate([o["significant_at_1"] for o in outcomes]),
                                      "read_as_flat": rate([o["reads_flat"] for o in outcomes]),
                                      "read_as_falling_back": rate([o["reads_falling"] for o in outcomes])}
    stability = {}
    for folder in sorted(p.parent for p in (ROOT / "benchmarks" / "results").glob("*/results.csv")):
        if arguments.stability:
            started = time.perf_counter()
            stability[folder.name] = verdict_stability(folder, arguments.stability)
            print(f"stability of {folder.name}: {'stable' if stability[folder.name]['stable'] else 'CHANGES'} over "
                  f"{arguments.stability} RNG seeds ({time.perf_counter() - started:.0f} s)", flush=True)
    record = {
        "source": str(SOURCE.relative_to(ROOT)), "sims": arguments.sims, "resamples": arguments.resamples,
        "design": {"folds": int(faces.fold.max() + 1), "seeds": arguments.seeds, "generator_fits": arguments.fits,
                   "ratios": list(RATIOS)},
        "seed_sd_points": 100 * faces.seed_sd * faces.slope,
        "scenarios": results,
        "stability": {"rng_seeds": arguments.stability, "settings": stability},
        "summary": {
            "false_positive_per_fit_5": results["null-per-fit-5"]["familywise_false_positive"]["rate"],
            "coverage": min(results[name]["coverage"]["rate"] for name in ("null-per-fit-5", "coverage-effect-3")),
            "printed_mde_points": mde,
            "power_at_printed_mde": results["power-at-mde"]["detected_at_ratio_1"]["rate"],
            "peak_read_as_plateau": results["peak"]["read_as_flat"]["rate"],
            "peak_read_as_falling_back": results["peak"]["read_as_falling_back"]["rate"],
            "plateau_read_as_flat": results["plateau"]["read_as_flat"]["rate"],
            "plateau_read_as_falling_back": results["plateau"]["read_as_falling_back"]["rate"],
            "recorded_verdicts_stable": all(entry["stable"] for entry in stability.values()) if stability else None,
        },
    }
    Path(arguments.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["summary"], indent=2))


if __name__ == "__main__":
    main()
