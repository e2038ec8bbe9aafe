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
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fersyn.analysis.figures import new_figure, save_figure
from fersyn.analysis.rules import ALPHA, MARGIN, REAL_ONLY_ARM, RULES
from fersyn.analysis.stats import Arm, analyse
from fersyn.errors import FersynError
from fersyn.runtime.files import atomic_output
from fersyn.sweep.spec import REAL_ONLY, REAL_PLUS_AUGMENTED, REAL_PLUS_REAL, REAL_PLUS_SYNTHETIC, SYNTHETIC_ONLY
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

# The curve each kind of training draws, and how tables name it.
CURVES = {REAL_PLUS_SYNTHETIC: "synthetic", REAL_PLUS_AUGMENTED: "augmented", REAL_PLUS_REAL: "unused real"}
SYNTHETIC_ONLY_ARM = "synthetic only"
POSITIVE_CONTROL = CURVES[REAL_PLUS_REAL]
_TABLE_WIDTH = 100


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


def format_table(summary: dict) -> str:
    """Per classifier: each arm's accuracy, each curve's gains, bound and verdict, efficiencies against the
    positive control, the GAN minus augmentation, and cells whose budget may have been binding."""
    folds = f"{summary['folds']} folds × " if summary["folds"] > 1 else ""
    blocks = [textwrap.fill(
        f"Accuracy on real test faces, % (budget: {summary['budget']}; mean over {folds}seeds; unadjusted 95 % bootstrap "
        f"CI over the {summary['test_faces']} test faces' {summary['grouped_by']}s and the models; margin "
        f"{100 * summary['margin']:g} pt)",
        _TABLE_WIDTH, subsequent_indent="  ")]
    if summary.get("synthetic_quality"):
        blocks.append(textwrap.fill(_quality_line(summary["synthetic_quality"]), _TABLE_WIDTH, subsequent_indent="  "))
    for name, result in summary["classifiers"].items():
        blocks.append(_classifier_block(name, result))
    if summary["failed_cells"]:
        blocks.append(f"{len(summary['failed_cells'])} failed cell(s) not counted; see summary.json")
    if summary["provenance"].get("precision_note"):
        blocks.append(textwrap.fill("note: " + summary["provenance"]["precision_note"], _TABLE_WIDTH, subsequent_indent="  "))
    return "\n\n".join(blocks) + "\n"


def _quality_line(quality: dict) -> str:
    """Who read the synthetic sets independently, and how often they read the intended emotion."""
    sets = f"{quality['sets']} synthetic set(s)"
    if quality["not_recorded"] == quality["sets"]:
        return f"{sets}: independent fidelity not recorded (made before fersyn measured it: generate them again)"
    readings = "; ".join(f"{100 * r['mean']:.0f} % by {name}" + (f" (sets {100 * r['min']:.0f}–{100 * r['max']:.0f} %)"
                                                                  if r["sets"] > 1 else "")
                         for name, r in quality["independent"].items())
    line = (f"{sets}: independent fidelity {readings}" if readings else
            f"WARNING: no independent judge read the {sets}: their fidelity is measured only by judges that took part "
            "in making them or saw their generators' training faces")
    if quality["left_out"]:
        line += "; not independent: " + ", ".join(f"{name} ({why})" for name, why in quality["left_out"].items())
    if quality["unavailable"]:
        line += "; unavailable here: " + ", ".join(quality["unavailable"])
    if quality["not_recorded"]:
        line += f"; {quality['not_recorded']} set(s) made before fersyn measured it"
    return line


def _classifier_block(name: str, result: dict) -> str:
    analysis = result["analysis"]
    if analysis is None:
        return f"{name}: {result['note']}"
    lines = [f"{name} ({len(result['seeds'])} seed(s), {analysis['test_groups']} test groups)"]
    late = result.get("late_peaks", {})
    peaks = lambda arm: "{late}/{cells}".format(**late[arm]) if arm in late else ""  # noqa: E731
    header = ["curve", "ratio", "accuracy", "gain pts", "p (Holm)", "MDE", "late"]
    rows = [header]
    for arm in analysis["arms"]:
        if arm["curve"] in (REAL_ONLY_ARM, SYNTHETIC_ONLY_ARM):
            rows.append([arm["curve"], "0" if arm["ratio"] == 0 else "–", _with_ci(arm["value"], arm["ci95"]), "", "",
                         "", peaks(arm["curve"])])
    for curve, numbers in analysis["curves"].items():
        for entry in numbers["ratios"]:
            if entry["ratio"] == 0:
                continue
            rows.append([curve, f"{entry['ratio']:g}", _with_ci(entry["accuracy"], entry["ci95"]),
                         _with_ci(entry["gain"], entry["gain_ci95"], signed=True), _p_text(entry, "gain_", digits=3),
                         f"{100 * entry['gain_mde']:.1f}", peaks(f"{curve} {entry['ratio']:g}")])
    lines += _aligned(rows)
    lines.append(textwrap.fill(
        "intervals: 95 %, unadjusted; p: Holm-corrected within each curve (the family: its ratios above 0), * below "
        f"{analysis['alpha']:g}, ≤ at the bootstrap's floor (no resample beyond 0), ? borderline (within its Monte Carlo "
        f"error of {analysis['alpha']:g} after {analysis['resamples']} resamples); resampled: "
        + analysis.get("resampled", "test subjects and seeds"), _TABLE_WIDTH, subsequent_indent="  "))
    for curve, numbers in analysis["curves"].items():
        bound = numbers["bound"]
        shown = f"ratio {bound['ratio']:g}" if bound["conclusive"] else "inconclusive"
        lines.append(textwrap.fill(
            f"{curve}: bound {shown} (margin {100 * bound['margin']:g} pt; estimate {bound['estimate']:g}, 95 % CI "
            f"[{bound['estimate_ci95'][0]:g}, {bound['estimate_ci95'][1]:g}]; best ratio {numbers['best']['ratio']:g}, "
            f"{_with_ci(numbers['best']['accuracy'], numbers['best']['ci95'])}) — {numbers['verdict']}",
            _TABLE_WIDTH, subsequent_indent="  ", break_on_hyphens=False))
        spread = _heterogeneity(curve, numbers, fits=result.get("generator_fits", 1))
        if spread:
            lines.append(textwrap.fill(spread, _TABLE_WIDTH, subsequent_indent="  "))
    for curve, entries in analysis["efficiency"].items():
        parts = [f"ratio {e['ratio']:g}: {_ratio_with_ci(e)}{'' if e['control_gain_significant'] else ' (control gain not significant)'}"
                 for e in entries]
        lines.append(textwrap.fill(f"efficiency of {curve} (its gain ÷ the {POSITIVE_CONTROL} positive control's): "
                                   + "; ".join(parts), _TABLE_WIDTH, subsequent_indent="  "))
    for comparison in analysis["comparisons"]:
        first, second = comparison["curves"]
        parts = [f"ratio {e['ratio']:g}: {_with_ci(e['value'], e['ci95'], signed=True)} (p {_p_text(e)})"
                 for e in comparison["ratios"]]
        lines.append(textwrap.fill(f"{first} − {second} (Holm over its {len(parts)} ratios): " + "; ".join(parts),
                                   _TABLE_WIDTH, subsequent_indent="  "))
    real_only = late.get(REAL_ONLY_ARM)
    if real_only and real_only["late"]:
        lines.append(textwrap.fill(f"warning: {real_only['late']} of {real_only['cells']} real-only cells kept weights from "
                                   "the last 10 % of their budget: it may be binding (raise --steps or --epochs); "
                                   "'late' counts such cells per arm", _TABLE_WIDTH, subsequent_indent="  "))
    short = {arm: n for arm, n in result.get("control_repeats", {}).items() if n}
    if short:
        lines.append(textwrap.fill(f"note: the {POSITIVE_CONTROL} faces ran short, so the positive control repeats faces "
                                   "(no longer perfect new data) at " + ", ".join(f"{arm} (up to {n} repeated)"
                                                                                  for arm, n in short.items()),
                                   _TABLE_WIDTH, subsequent_indent="  "))
    if result.get("cross"):
        cross = {a["curve"] + ("" if a["ratio"] in (None, 0) else f" {a['ratio']:g}"): a for a in result["cross"]["arms"]}
        lines.append(textwrap.fill("cross-dataset test: " + "; ".join(f"{k} {_with_ci(a['value'], a['ci95'])}"
                                                                      for k, a in cross.items()),
                                   _TABLE_WIDTH, subsequent_indent="  "))
    if result["incomplete_arms"]:
        lines.append(f"left out (not every seed and fold finished): {', '.join(result['incomplete_arms'])}")
    return "\n".join(lines)


def _p_text(entry: dict, prefix: str = "", *, digits: int = 2) -> str:
    """A corrected p-value as tables print it: '≤' at the bootstrap's floor, '*' significant, '?' borderline."""
    floor = "≤" if entry.get(f"{prefix}p_at_floor") else ""
    mark = " *" if entry[f"{prefix}significant"] else " ?" if entry.get(f"{prefix}borderline") else ""
    return f"{floor}{entry[f'{prefix}p_holm']:.{digits}g}{mark}"


def _heterogeneity(curve: str, numbers: dict, *, fits: int) -> str:
    """The spread of the curve's gain at its best ratio between folds and between fits (or seeds) within folds,
    and a warning where folds differ beyond what their fits do: that is not in the intervals."""
    best = next((e for e in numbers["ratios"] if e["ratio"] == numbers["best"]["ratio"] and e["ratio"] > 0), None)
    spread = (best or {}).get("heterogeneity") or {}
    within = " within folds" if spread.get("between_strata") else ""
    generated = curve == CURVES[REAL_PLUS_SYNTHETIC]  # a control's units are its seeds, whatever the fits
    names = {"between_strata": "between folds",
             "between_units": f"between {'fits' if generated and fits > 1 else 'seeds'}{within}"}
    parts = [f"{names[key]} SD {100 * test['sd']:.1f} points (Q {test['q']:.1f} on {test['df']} df, p {test['p']:.2g})"
             for key, test in spread.items() if test]
    if not parts:
        return ""
    folds = spread.get("between_strata")
    covered = ("fits within folds only" if fits > 1 else "no generator fit (one per fold: run --generator-fits 2)"
               ) if generated else "seeds within folds only"
    warning = ("; warning: the folds differ more than their test faces explain, and the intervals cover " + covered
               if folds and folds["p"] < ALPHA else "")
    return f"{curve} gain at ratio {best['ratio']:g}, heterogeneity: " + "; ".join(parts) + warning


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return ["  ".join([row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]).rstrip()
            for row in rows]


def _with_ci(value: float, ci: list, *, signed: bool = False) -> str:
    number = f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
    if ci is None or ci[0] is None:
        return number
    return f"{number} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _ratio_with_ci(entry: dict) -> str:
    if entry["value"] is None:
        return "undefined (no control gain)"
    low, high = entry["ci95"]
    return f"{entry['value']:.2f}" + ("" if low is None else f" [{low:.2f}, {high:.2f}]")


def plot_accuracy(summary: dict, path: str | Path) -> Path:
    """accuracy_vs_ratio.png: each curve's accuracy against the ratio with its 95 % CI band (a colour per
    curve: synthetic, augmentation, positive control; a line style per classifier), real-only and
    synthetic-only lines, and the bound (a star) where it is conclusive."""
    figure = new_figure(9.5, 5)
    axis = figure.subplots()
    colours = {CURVES[REAL_PLUS_SYNTHETIC]: ("C0", "o"), CURVES[REAL_PLUS_AUGMENTED]: ("C1", "s"),
               POSITIVE_CONTROL: ("C2", "^")}
    for index, (name, result) in enumerate(summary["classifiers"].items()):
        analysis, line = result["analysis"], ("-", "--", "-.", ":")[index % 4]  # a line style per classifier
        if analysis is None:
            continue
        for curve, numbers in analysis["curves"].items():
            colour, marker = colours[curve]
            entries = numbers["ratios"]
            ratios = [e["ratio"] for e in entries]
            axis.plot(ratios, [100 * e["accuracy"] for e in entries], color=colour, marker=marker, linestyle=line,
                      label=f"{name}: {curve}")
            axis.fill_between(ratios, [100 * e["ci95"][0] for e in entries], [100 * e["ci95"][1] for e in entries],
                              color=colour, alpha=0.12)
            bound = numbers["bound"]
            if bound["conclusive"]:
                at = next(e for e in entries if e["ratio"] == bound["ratio"])
                axis.plot([at["ratio"]], [100 * at["accuracy"]], marker="*", markersize=16, color=colour,
                          linestyle="none", label=f"{name}: {curve} bound (ratio {at['ratio']:g})")
        for arm in analysis["arms"]:
            if arm["curve"] == REAL_ONLY_ARM:
                axis.axhline(100 * arm["value"], color="grey", linestyle=line, linewidth=1, label=f"{name}: real only")
            elif arm["curve"] == SYNTHETIC_ONLY_ARM:
                axis.axhline(100 * arm["value"], color="C3", linestyle=line, linewidth=1, label=f"{name}: synthetic only")
    axis.set_xlabel("ratio k: extra images per real training image (0 = real only)")
    axis.set_ylabel("accuracy on real test faces (%)")
    axis.set_title(f"Test accuracy against ratio, 95 % bootstrap CI (budget: {summary['budget']})")
    axis.grid(alpha=0.3)
    if axis.get_legend_handles_labels()[0]:  # a shard's folder may have nothing complete to draw yet
        axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: lines stay visible
    return save_figure(figure, path, dpi=120)


def plot_confusions(rows: pd.DataFrame, summary: dict, directory: str | Path) -> list[Path]:
    """confusion_<classifier>_real-only.png and, where the synthetic curve's best ratio is not 0,
    confusion_<classifier>_best.png: summed over seeds and folds, rows normalised to each true emotion."""
    directory = Path(directory)
    ok = rows[rows["status"] == "ok"]
    written = []
    for name, result in summary["classifiers"].items():
        analysis = result["analysis"]
        if analysis is None:
            continue
        wanted = {"real-only": (REAL_ONLY, 0.0)}
        synthetic = analysis["curves"].get(CURVES[REAL_PLUS_SYNTHETIC])
        if synthetic and synthetic["best"]["ratio"] != 0:
            wanted["best"] = (REAL_PLUS_SYNTHETIC, synthetic["best"]["ratio"])
        for label, (training, ratio) in wanted.items():
            cells = ok[(ok["classifier"] == name) & (ok["training"] == training) & np.isclose(ok["ratio"].astype(float), ratio)
                       & ok["seed"].isin(result["seeds"])]
            if cells.empty:
                continue
            which = "real only" if ratio == 0 else f"best ratio {ratio:g}"
            title = f"{name}, {which}: {len(cells)} cell(s), seeds × folds"
            counts = sum(np.array(json.loads(confusion)) for confusion in cells["confusion"])
            written.append(_plot_confusion(counts, summary["emotions"], title, directory / f"confusion_{name}_{label}.png"))
    return written


def _plot_confusion(counts: np.ndarray, emotions: list[str], title: str, path: Path) -> Path:
    percent = 100 * counts / np.maximum(counts.sum(1, keepdims=True), 1)  # an absent emotion: a row of zeros
    size = 2.5 + 0.7 * len(emotions)
    figure = new_figure(size + 1, size)
    axis = figure.subplots()
    image = axis.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    for (row, column), value in np.ndenumerate(percent):
        axis.text(column, row, f"{value:.0f}%", ha="center", va="center", fontsize=8,
                  color="white" if value > 60 else "black")
    axis.set_xticks(range(len(emotions)), emotions, rotation=45, ha="right")
    axis.set_yticks(range(len(emotions)), emotions)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axis, label="% of the true emotion's test faces")
    return save_figure(figure, path, dpi=120)
