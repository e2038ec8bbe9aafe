"""The report of a benchmark sweep: summary.json, a plain-text table and PNG plots, from the rows and
sweep.json of a sweep folder.

Per classifier, one joint bootstrap (fersyn.analysis.stats.analyse) over the test subjects and seeds of every
fold gives each arm's accuracy, each curve's gains over real only (Holm-corrected), its bound and
verdict (fersyn.analysis.rules.RULES), the efficiency of each curve against the positive control, and the GAN
minus the augmentation control. Only successful cells count; failed ones are listed, and seeds that
some arm lacks are left out (named in the summary) so that every comparison is paired.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fersyn.analysis.arms import CURVES, POSITIVE_CONTROL, SYNTHETIC_ONLY_ARM
from fersyn.analysis.plots import plot_accuracy, plot_confusions
from fersyn.analysis.rules import MARGIN, REAL_ONLY_ARM, RULES
from fersyn.analysis.stats import Arm, analyse
from fersyn.analysis.table import format_table
from fersyn.errors import FersynError
from fersyn.runtime.files import atomic_output
from fersyn.sweep.spec import REAL_ONLY, REAL_PLUS_AUGMENTED, REAL_PLUS_SYNTHETIC, SYNTHETIC_ONLY
from fersyn.sweep.store import (
    RESULTS,
    SCHEMA,
    SUMMARY,
    check_schema,
    merge_sweeps,
    missing_columns,
    record_sweep,
    results_files,
)


@dataclass
class ReportResult:
    """What `report` produced: the summary, the table to print, the files written."""

    summary: dict
    table: str
    files: list[Path]


def report(directory: str | Path, *more: str | Path, out: str | Path | None = None,
           margin: float | None = None) -> ReportResult:
    """Read the results of `directory` (every results table in it, shards included), write summary.json
    and the plots beside them. With `more` folders — shards of the same sweep run apart — their rows
    are merged (folders of another configuration are refused) and written, with the summary and
    plots, to `out` as one complete sweep folder. `margin` (accuracy points) overrides the sweep's equivalence
    margin."""
    directories = [Path(d) for d in (directory, *more)]
    for folder in directories:
        if not results_files(folder):
            raise FersynError(f"{folder}: no {RESULTS}; run `fersyn benchmark --out {folder}` first")
        check_schema(folder)
    if more and out is None:
        raise FersynError("merging several folders needs `out`: the folder to write the merged sweep to")
    rows, sweep = merge_sweeps(directories)
    rows = _checked(rows, ", ".join(map(str, directories)))
    target = Path(out) if out is not None else directories[0]
    if more or target != directories[0]:
        target.mkdir(parents=True, exist_ok=True)
        with atomic_output(target / RESULTS) as temporary:
            rows.to_csv(temporary, index=False)
        record_sweep(target, sweep.get("config", {}), {**sweep.get("provenance", {}),
                                                       "merged_from": [str(d) for d in directories]},
                     test_faces=sweep.get("test_faces"))
    summary = summarise(rows, sweep, margin=None if margin is None else margin / 100)
    summary_path = target / SUMMARY
    with atomic_output(summary_path) as temporary:
        temporary.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    plots = [plot_accuracy(summary, target / "accuracy_vs_ratio.png"), *plot_confusions(rows, summary, target)]
    return ReportResult(summary, format_table(summary), [summary_path, *plots])


def summarise(rows: pd.DataFrame, sweep: dict, *, margin: float | None = None, random_seed: int = 0) -> dict:
    """The statistics of a results table and its sweep.json, JSON-ready (NaN becomes None); accuracies
    are fractions. `random_seed` seeds the bootstrap (a verdict must not depend on it: see RULES)."""
    test_faces = sweep.get("test_faces") or {}
    if not test_faces.get("folds"):
        raise FersynError("sweep.json names no test faces: the folder was not written by this version of fersyn")
    margin = margin if margin is not None else sweep.get("provenance", {}).get("margin", MARGIN)
    ok, failed = rows[rows["status"] == "ok"], rows[rows["status"] != "ok"]
    summary = {
        "schema": SCHEMA,
        "rules": RULES,
        "budget": ", ".join(sorted(rows["budget"].dropna().astype(str).unique())),
        "emotions": [emotion.strip() for emotion in str(rows["emotions"].iloc[0]).split(",")],
        "folds": len(test_faces["folds"]),
        "test_faces": sum(len(fold["labels"]) for fold in test_faces["folds"]),
        "grouped_by": test_faces.get("grouped_by", "subject"),
        "margin": margin,
        "provenance": sweep.get("provenance", {}),
        "failed_cells": [
            {"classifier": cell.classifier, "training": cell.training, "ratio": cell.ratio, "seed": cell.seed,
             "fold": cell.fold, "error": cell.error}
            for cell in failed.itertuples()
        ],
        "classifiers": {name: _summarise_classifier(cells, sweep, margin, random_seed)
                        for name, cells in ok.groupby("classifier", sort=False)},
    }
    quality = synthetic_quality(sweep.get("provenance", {}).get("synthetic_metrics") or [])
    if quality:
        summary["synthetic_quality"] = quality
    return _json_ready(summary)


def synthetic_quality(metrics: list[dict]) -> dict | None:
    """Over a sweep's synthetic sets (what `fersyn generate` measured of each): every independent judge's mean
    fidelity and range, the judges left out and why, and how many sets predate independent fidelity."""
    if not metrics:
        return None
    recorded = [m["independent"] for m in metrics if "independent" in m]
    readings: dict[str, list[float]] = {}
    for independent in recorded:
        for name, reading in independent["judges"].items():
            readings.setdefault(name, []).append(reading["fidelity"])
    return {
        "sets": len(metrics),
        "not_recorded": len(metrics) - len(recorded),
        "independent": {name: {"mean": float(np.mean(values)), "min": float(np.min(values)), "max": float(np.max(values)),
                               "sets": len(values)} for name, values in readings.items()},
        "left_out": {name: why for independent in recorded for name, why in independent["left_out"].items()},
        "unavailable": sorted({name for independent in recorded for name in independent["unavailable"]}),
    }


def _summarise_classifier(cells: pd.DataFrame, sweep: dict, margin: float, random_seed: int) -> dict:
    test_faces = sweep["test_faces"]
    arms = _arms(cells)
    seeds, kept, incomplete = _complete(cells, arms, len(test_faces["folds"]))
    result: dict[str, Any] = {"seeds": seeds, "incomplete_arms": [_arm_name(arm) for arm in incomplete]}
    if not seeds or Arm(REAL_ONLY_ARM, 0.0) not in kept:
        result["analysis"] = None
        result["note"] = "no seed has real-only cells for every fold yet: nothing to compare"
        return result
    folds = test_faces["folds"]
    groups = [group for fold in folds for group in fold["groups"]]
    if len(set(groups)) < 2:
        result["analysis"] = None
        result["note"] = "one test subject: too few to bootstrap over (use more data or --folds)"
        return result
    correct = np.stack([np.stack([np.concatenate([_correct(cells, arm, seed, fold, folds[fold]["labels"], "test_predictions")
                                                  for fold in range(len(folds))]) for seed in seeds]) for arm in kept])
    options = _comparisons([arm.curve for arm in kept])
    fits = generator_fits(sweep)
    strata = [fold for fold, faces in enumerate(folds) for _ in faces["labels"]]
    units = None if fits == 1 else [seed % fits for seed in seeds]  # seed s used fit s mod N in every fold
    result["analysis"] = analyse(correct, groups, kept, strata=strata, units=units, margin=margin,
                                 random_seed=random_seed, **options)
    made = any(arm.curve in (CURVES[REAL_PLUS_SYNTHETIC], SYNTHETIC_ONLY_ARM) for arm in kept)
    result["analysis"]["resampled"] = _resampled(len(folds), fits, len(seeds), generated=made)
    result["generator_fits"] = fits
    result["late_peaks"] = _late_peaks(cells, kept, seeds)
    result["control_repeats"] = {_arm_name(arm): int(_arm_cells(cells, arm)["extra_repeated"].max())
                                 for arm in kept if arm.curve == POSITIVE_CONTROL}
    cross = test_faces.get("cross")
    if cross and cells["cross_predictions"].fillna("").astype(str).str.len().gt(0).all():
        models = [(seed, fold) for seed in seeds for fold in range(len(folds))]  # every fold's models test every face
        cross_correct = np.stack([np.stack([_correct(cells, arm, seed, fold, cross["labels"], "cross_predictions")
                                            for seed, fold in models]) for arm in kept])
        # Crossed: the models by fold (those of a fold share its training faces), and the faces.
        result["cross"] = analyse(cross_correct, cross["groups"], kept, units=[fold for _, fold in models],
                                  margin=margin, random_seed=random_seed, **options)
        result["cross"]["resampled"] = (f"models by fold ({max(len(folds) - 1, 1)} of {len(folds)} folds drawn, each "
                                        "with all its models), crossed with the test subjects")
    else:
        result["cross"] = None
    return result


def generator_fits(sweep: dict) -> int:
    """How many generator fits each fold of the sweep had (sweep.json records it only above 1)."""
    return int(sweep.get("config", {}).get("generator_fits", 1))


def _resampled(folds: int, fits: int, seeds: int, *, generated: bool) -> str:
    """Which factors the intervals cover, in words (`generated`: whether any arm mixes in generated faces)."""
    where = f"within each of the {folds} folds" if folds > 1 else "within the split"
    if fits > 1:
        models = (f"the generator fits ({fits} per fold, {fits - 1} of {fits} drawn, each with the {seeds // fits} "
                  "seed(s) that used it)")
    else:
        lone_fit = "; one generator fit per fold, so the intervals do not cover another fit of the generators"
        models = (f"the classifier seeds ({seeds - 1} of {seeds} drawn{lone_fit if generated else ''})" if seeds > 1
                  else "no seed (one)")
    training = "the folds' training subjects (see the heterogeneity between folds)" if folds > 1 else "the training subjects"
    return f"test subjects and {models}, {where}; not resampled: {training}"


def _arms(cells: pd.DataFrame) -> list[Arm]:
    """The arms of a classifier's cells: real only, each curve's ratios, synthetic only."""
    arms = []
    for (training, ratio), _ in cells.groupby(["training", "ratio"], dropna=False, sort=True):
        if training == REAL_ONLY:
            arms.append(Arm(REAL_ONLY_ARM, 0.0))
        elif training == SYNTHETIC_ONLY:
            arms.append(Arm(SYNTHETIC_ONLY_ARM, None))
        elif training in CURVES:
            arms.append(Arm(CURVES[training], float(ratio)))
    order = {REAL_ONLY_ARM: 0, **{curve: i + 1 for i, curve in enumerate(CURVES.values())}, SYNTHETIC_ONLY_ARM: 9}
    return sorted(set(arms), key=lambda arm: (order[arm.curve], arm.ratio or 0.0))


def _training(arm: Arm) -> str:
    if arm.curve == REAL_ONLY_ARM:
        return REAL_ONLY
    if arm.curve == SYNTHETIC_ONLY_ARM:
        return SYNTHETIC_ONLY
    return next(training for training, curve in CURVES.items() if curve == arm.curve)


def _arm_cells(cells: pd.DataFrame, arm: Arm) -> pd.DataFrame:
    chosen = cells[cells["training"] == _training(arm)]
    return chosen if arm.ratio is None else chosen[np.isclose(chosen["ratio"].astype(float), arm.ratio)]


def _complete(cells: pd.DataFrame, arms: list[Arm], folds: int) -> tuple[list[int], list[Arm], list[Arm]]:
    """The seeds to compare on and the arms kept. A joint bootstrap needs every kept arm on every fold of the
    same seeds: among the seed sets that real only has in full, the one keeping the most arm × seed pairs
    (an interrupted sweep keeps its finished seeds; an arm run on fewer seeds is left out, not the seeds)."""
    have = {arm: {int(seed) for seed, group in _arm_cells(cells, arm).groupby("seed") if group["fold"].nunique() == folds}
            for arm in arms}
    baseline = have.get(Arm(REAL_ONLY_ARM, 0.0), set())
    candidates = {frozenset(baseline & seeds) for seeds in have.values()} | {frozenset(baseline)}

    def kept_with(seeds: frozenset) -> list[Arm]:
        return [arm for arm in arms if seeds <= have[arm]]

    best = max((c for c in candidates if c), key=lambda c: (len(kept_with(c)) * len(c), len(c)), default=frozenset())
    kept = kept_with(best) if best else []
    return sorted(best), kept, [arm for arm in arms if arm not in kept]


def _correct(cells: pd.DataFrame, arm: Arm, seed: int, fold: int, labels: list[int], column: str) -> np.ndarray:
    row = _arm_cells(cells, arm)
    row = row[(row["seed"] == seed) & (row["fold"] == fold)].iloc[-1]
    predicted = np.array([int(c) for c in str(row[column])])
    if len(predicted) != len(labels):
        raise FersynError(f"a row of {_arm_name(arm)} (seed {seed}, fold {fold}) holds {len(predicted)} predictions "
                          f"for {len(labels)} test faces: the results and sweep.json do not belong together")
    return (predicted == np.asarray(labels)).astype(float)


def _comparisons(curves: list[str]) -> dict[str, Any]:
    present = set(curves)
    return {"control": POSITIVE_CONTROL if POSITIVE_CONTROL in present else None,
            "compare": [(CURVES[REAL_PLUS_SYNTHETIC], CURVES[REAL_PLUS_AUGMENTED])]
            if {CURVES[REAL_PLUS_SYNTHETIC], CURVES[REAL_PLUS_AUGMENTED]} <= present else []}


def _late_peaks(cells: pd.DataFrame, arms: list[Arm], seeds: list[int]) -> dict[str, dict[str, int]]:
    """Per arm, how many of its cells kept weights from the last 10 % of their validation rounds."""
    counts = {}
    for arm in arms:
        chosen = _arm_cells(cells, arm)
        chosen = chosen[chosen["seed"].isin(seeds)]
        late = chosen["peaked_late"].astype(str).str.lower().eq("true")
        counts[_arm_name(arm)] = {"late": int(late.sum()), "cells": int(len(chosen))}
    return counts


def _arm_name(arm: Arm) -> str:
    return arm.curve if arm.ratio is None or arm.curve == REAL_ONLY_ARM else f"{arm.curve} {arm.ratio:g}"


def _checked(rows: pd.DataFrame, source: str) -> pd.DataFrame:
    """The successful and failed rows of a results table; of several rows for one cell (a shard's
    rerun, or a plugin's default options changed) the latest."""
    if "status" in rows.columns and not (rows["status"] == "ok").any():
        first = str(rows["error"].dropna().iloc[0]) if rows["error"].notna().any() else "none recorded"
        raise FersynError(f"{source}: no successful cell among {len(rows)} row(s) (first error: {first})")
    missing = missing_columns(rows)
    if missing:
        raise FersynError(f"{source}: not a fersyn results table (no column {', '.join(missing)})")
    latest = rows.sort_values("finished", kind="stable") if "finished" in rows.columns else rows
    return latest.drop_duplicates(["classifier", "training", "ratio", "seed", "fold"], keep="last").sort_index()


def _json_ready(value: Any) -> Any:
    """`value` with numpy scalars made plain and NaN made None, so json.dumps writes strict JSON."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value
