"""The report of a benchmark sweep: summary.json, a plain-text table and PNG plots, from results.csv.

Per classifier: test accuracy over seeds at each synthetic ratio (mean, 95 % CI, gain over real
only), the synthetic-only baseline, and the bound of fersyn.stats.BOUND_RULE, so that "how much
synthetic data still helps" gets one stated answer; where the sweep ran the augmentation control
(augmented copies of real faces instead of synthetic ones), the same for it and, per ratio, whether
the GAN did better. Only successful cells count; failed ones are listed.
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

from fersyn.errors import FersynError
from fersyn.files import atomic_output
from fersyn.grid import save_figure
from fersyn.results import (REAL_PLUS_AUGMENTED, REAL_PLUS_SYNTHETIC, RESULTS, SUMMARY, SYNTHETIC_ONLY, merge_sweeps,
                            record_sweep, results_files)
from fersyn.stats import BOUND_RULE, find_bound, mean_ci, paired_difference

_ROW_COLUMNS = ("status", "error", "classifier", "training", "ratio", "seed", "emotions", "budget")
_SCORE_COLUMNS = ("n_synthetic", "accuracy", "macro_f1", "confusion", "cross_accuracy")  # successful cells only
_TABLE_WIDTH = 100
_CONTROL = "augmentation control"


@dataclass
class ReportResult:
    """What `write_report` produced: the summary, the table to print, the files written."""

    summary: dict
    table: str
    files: list[Path]


def write_report(directory: str | Path, *more: str | Path, out: str | Path | None = None) -> ReportResult:
    """Read the results of `directory` (every results table in it, shards included), write summary.json
    and the plots beside them. With `more` folders — shards of the same sweep run apart — their rows
    are merged (folders of another configuration are refused) and written, with the summary and
    plots, to `out` as one complete sweep folder."""
    directories = [Path(d) for d in (directory, *more)]
    for folder in directories:
        if not results_files(folder):
            raise FersynError(f"{folder}: no {RESULTS}; run `fersyn benchmark --out {folder}` first")
    if more and out is None:
        raise FersynError("merging several folders needs --out: the folder to write the merged sweep to")
    rows, sweep = merge_sweeps(directories)
    rows = _checked(rows, ", ".join(map(str, directories)))
    target = Path(out) if out is not None else directories[0]
    if more or target != directories[0]:
        target.mkdir(parents=True, exist_ok=True)
        with atomic_output(target / RESULTS) as temporary:
            rows.to_csv(temporary, index=False)
        record_sweep(target, sweep.get("config", {}), {**sweep.get("provenance", {}),
                                                       "merged_from": [str(d) for d in directories]})
    summary = summarise(rows, sweep)
    summary_path = target / SUMMARY
    with atomic_output(summary_path) as temporary:
        temporary.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    plots = [plot_accuracy(summary, target / "accuracy_vs_ratio.png"), *plot_confusions(rows, summary, target)]
    return ReportResult(summary, format_table(summary), [summary_path, *plots])


def summarise(rows: pd.DataFrame, provenance: dict | None = None) -> dict:
    """The statistics of a results table, JSON-ready (NaN becomes None); accuracies are fractions."""
    ok = rows[rows["status"] == "ok"]
    failed = rows[rows["status"] != "ok"]
    summary = {
        "rule": BOUND_RULE,
        "budget": ", ".join(sorted(rows["budget"].dropna().astype(str).unique())),
        "emotions": [emotion.strip() for emotion in str(rows["emotions"].iloc[0]).split(",")],
        "provenance": provenance or {},
        "failed_cells": [
            {"classifier": cell.classifier, "training": cell.training, "ratio": cell.ratio, "seed": cell.seed,
             "error": cell.error}
            for cell in failed.itertuples()
        ],
        "classifiers": {name: _summarise_classifier(cells) for name, cells in ok.groupby("classifier", sort=False)},
    }
    return _json_ready(summary)


def format_table(summary: dict) -> str:
    """One plain-text table per classifier, with its synthetic-only line and its bound, and one for its
    augmentation control, if run, ending in the GAN's difference to it per ratio."""
    blocks = [f"Accuracy on real test faces, % (budget: {summary['budget']}; mean ± 95 % CI half-width over seeds)"]
    for name, result in summary["classifiers"].items():
        blocks.append(_classifier_table(name, result))
        if result["augment_control"]:
            blocks.append(_control_table(name, result["augment_control"]))
    if summary["failed_cells"]:
        blocks.append(f"{len(summary['failed_cells'])} failed cell(s) not counted; see summary.json")
    return "\n\n".join(blocks) + "\n"


def plot_accuracy(summary: dict, path: str | Path) -> Path:
    """accuracy_vs_ratio.png: per classifier, mean accuracy over seeds against the ratio, with its 95 % CI
    band, real-only and synthetic-only lines and the bound, and its augmentation control (dashed, squares)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # not pyplot: no global backend switch, nothing left open

    figure = Figure(figsize=(9.5, 5))
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    for index, (name, result) in enumerate(summary["classifiers"].items()):
        colour, entries = f"C{index}", result["ratios"]
        if entries:  # none when only synthetic-only cells succeeded
            _plot_ratios(axis, entries, colour, (f"{name}: mean", f"{name}: 95 % CI"), 0.2, marker="o")
        if result["augment_control"]:
            _plot_ratios(axis, result["augment_control"]["ratios"], colour,
                         (f"{name}: {_CONTROL}", f"{name}: {_CONTROL}, 95 % CI"), 0.08, marker="s", linestyle="--")
        real_only = next((entry for entry in entries if entry["ratio"] == 0), None)
        if real_only:
            axis.axhline(100 * real_only["mean"], color=colour, linestyle=":", label=f"{name}: real only")
        if result["synthetic_only"]:
            axis.axhline(100 * result["synthetic_only"]["mean"], color=colour, linestyle="--",
                         label=f"{name}: synthetic only")
        if result["bound"]:
            bound = next(entry for entry in entries if entry["ratio"] == result["bound"]["bound"])
            axis.plot([bound["ratio"]], [100 * bound["mean"]], marker="*", markersize=16, color=colour,
                      linestyle="none", label=f"{name}: bound (ratio {bound['ratio']:g})")
    extra = "synthetic (control: augmented)" if any(r["augment_control"] for r in summary["classifiers"].values()) \
        else "synthetic"
    axis.set_xlabel(f"ratio k: {extra} images per real training image (0 = real only)")
    axis.set_ylabel("accuracy on real test faces (%)")
    axis.set_title(f"Test accuracy against synthetic ratio (budget: {summary['budget']})")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: lines stay visible
    return save_figure(figure, path, dpi=120)


def plot_confusions(rows: pd.DataFrame, summary: dict, directory: str | Path) -> list[Path]:
    """confusion_<classifier>_real-only.png and confusion_<classifier>_best.png (best ratio, unless it is
    0): confusion matrices summed over seeds, each row normalised to the faces of its true emotion."""
    directory = Path(directory)
    mixed = rows[(rows["status"] == "ok") & (rows["training"] == REAL_PLUS_SYNTHETIC)]
    written = []
    for name, result in summary["classifiers"].items():
        wanted = {"real-only": 0.0}
        if result["bound"] and result["bound"]["best_ratio"] != 0:
            wanted["best"] = result["bound"]["best_ratio"]
        for label, ratio in wanted.items():
            cells = mixed[(mixed["classifier"] == name) & (mixed["ratio"] == ratio)]
            if cells.empty:
                continue
            entry = next(entry for entry in result["ratios"] if entry["ratio"] == ratio)
            which = "real only" if ratio == 0 else f"best ratio {ratio:g}"
            title = f"{name}, {which}: mean accuracy {100 * entry['mean']:.1f} % over {entry['seeds']} seed(s)"
            counts = sum(np.array(json.loads(confusion)) for confusion in cells["confusion"])
            written.append(_plot_confusion(counts, summary["emotions"], title, directory / f"confusion_{name}_{label}.png"))
    return written


def _checked(rows: pd.DataFrame, source: str) -> pd.DataFrame:
    """The successful and failed rows of a results table; of several rows for one cell (a shard's
    rerun, or a plugin's default options changed) the latest."""
    missing = [column for column in _ROW_COLUMNS if column not in rows.columns]
    if missing:
        raise FersynError(f"{source}: not a fersyn results table (no column {', '.join(missing)})")
    if not (rows["status"] == "ok").any():
        first = str(rows["error"].dropna().iloc[0]) if rows["error"].notna().any() else "none recorded"
        raise FersynError(f"{source}: no successful cell among {len(rows)} row(s) (first error: {first})")
    missing = [column for column in _SCORE_COLUMNS if column not in rows.columns]
    if missing:
        raise FersynError(f"{source}: not a fersyn results table (no column {', '.join(missing)})")
    latest = rows.sort_values("finished", kind="stable") if "finished" in rows.columns else rows
    return latest.drop_duplicates(["classifier", "training", "ratio", "seed"], keep="last").sort_index()


def _summarise_classifier(cells: pd.DataFrame) -> dict:
    gan, augmented = _by_ratio(cells, REAL_PLUS_SYNTHETIC), _by_ratio(cells, REAL_PLUS_AUGMENTED)
    real_only = _cell_statistics(gan[0.0])["mean"] if 0.0 in gan else None
    synthetic_only = cells[cells["training"] == SYNTHETIC_ONLY]
    ratios, bound = _ratios_and_bound(gan, real_only)
    return {
        "ratios": ratios,
        "synthetic_only": None if synthetic_only.empty else _cell_statistics(synthetic_only),
        "bound": bound,
        "augment_control": _augment_control(gan, augmented, real_only) if augmented else None,
    }


def _augment_control(gan: dict[float, pd.DataFrame], augmented: dict[float, pd.DataFrame],
                     real_only: float | None) -> dict:
    """The augmentation control's ratios and bound, over the real-only cells and the augmented ones, and
    the GAN's difference to it at each ratio above 0 that both ran."""
    baseline = {0.0: gan[0.0]} if 0.0 in gan else {}
    ratios, bound = _ratios_and_bound({**augmented, **baseline}, real_only)
    return {
        "ratios": ratios,
        "bound": bound,
        "gan_minus_augment": [_gan_minus_augment(ratio, gan[ratio], augmented[ratio])
                              for ratio in sorted(augmented) if ratio > 0 and ratio in gan],
    }


def _gan_minus_augment(ratio: float, gan: pd.DataFrame, augmented: pd.DataFrame) -> dict:
    """Mean GAN minus mean augmented accuracy over their shared seeds, in points, tested two-sided."""
    paired = paired_difference(_accuracy_by_seed(gan), _accuracy_by_seed(augmented))
    if paired["significant"] is None:
        verdict = "too few seeds to test"
    elif paired["significant"]:
        verdict = "GAN better" if paired["difference"] > 0 else "augmentation better"
    else:
        verdict = "no significant difference"
    return {"ratio": ratio, "seeds": paired["seeds"], "difference_points": 100 * paired["difference"],
            "p_value": paired["p_value"], "verdict": verdict}


def _by_ratio(cells: pd.DataFrame, training: str) -> dict[float, pd.DataFrame]:
    """The cells of one kind of training, by ratio."""
    return {float(ratio): group for ratio, group in cells[cells["training"] == training].groupby("ratio")}


def _ratios_and_bound(by_ratio: dict[float, pd.DataFrame], real_only: float | None) -> tuple[list[dict], dict | None]:
    """One entry per ratio, in order, with its gains over `real_only`, and the bound (None under 2 ratios)."""
    ratios = sorted(by_ratio)
    numbers = {ratio: _cell_statistics(by_ratio[ratio]) for ratio in ratios}
    entries = [{"ratio": ratio, **entry, **_gains(entry["mean"], real_only)} for ratio, entry in numbers.items()]
    accuracy = {ratio: _accuracy_by_seed(by_ratio[ratio]) for ratio in ratios}
    return entries, find_bound(accuracy) if len(accuracy) >= 2 else None


def _accuracy_by_seed(cells: pd.DataFrame) -> dict[int, float]:
    return dict(zip(cells["seed"].astype(int), cells["accuracy"].astype(float)))


def _gains(mean: float, real_only: float | None) -> dict:
    """Gain over real only, in percentage points and in % of the real-only accuracy (None without one)."""
    if real_only is None:
        return {"gain_points": None, "gain_percent": None}
    return {"gain_points": 100 * (mean - real_only),
            "gain_percent": 100 * (mean - real_only) / real_only if real_only else None}


def _cell_statistics(cells: pd.DataFrame) -> dict:
    """Accuracy over the cells (one per seed) of one ratio, and the means of their other numbers."""
    accuracy = mean_ci(cells["accuracy"])
    cross = cells["cross_accuracy"].dropna()  # only cells tested on a second dataset have one
    return {
        "seeds": accuracy["n"], "mean": accuracy["mean"], "std": accuracy["std"], "ci95": accuracy["ci95"],
        "macro_f1_mean": float(cells["macro_f1"].mean()),
        "n_synthetic": float(cells["n_synthetic"].mean()),
        "cross_accuracy": mean_ci(cross) if len(cross) else None,
    }


def _json_ready(value: Any) -> Any:
    """`value` with numpy scalars made plain and NaN made None, so json.dumps writes strict JSON."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _control_table(name: str, control: dict) -> str:
    """The augmentation control's table and bound, then the GAN's difference to it per ratio."""
    lines = [_classifier_table(f"{name} · {_CONTROL} (augmented copies of real faces instead of synthetic)", control,
                               extra="augmented")]
    for entry in control["gan_minus_augment"]:
        points = "no shared seed" if entry["difference_points"] is None else f"{entry['difference_points']:+.1f} pts"
        p = "" if entry["p_value"] is None else f"p = {entry['p_value']:.2g}, "
        lines.append(f"GAN − augment at ratio {entry['ratio']:g}: {points} ({p}{entry['verdict']})")
    return "\n".join(lines)


def _classifier_table(title: str, result: dict, extra: str = "synthetic") -> str:
    """The table of `result`'s ratios (and synthetic-only line, if any) and its bound; `extra` names the added images."""
    synthetic_only = result.get("synthetic_only")
    entries = result["ratios"] + ([synthetic_only] if synthetic_only else [])
    with_cross = any(entry["cross_accuracy"] for entry in entries)
    header = ["ratio", extra, "seeds", "accuracy", "gain pts", "gain %", "macro-F1"]
    header += ["cross-data acc"] if with_cross else []
    lines = [header]
    for entry in entries:
        line = [
            "synthetic only" if entry is synthetic_only else f"{entry['ratio']:g}",
            f"{entry['n_synthetic']:.0f}", str(entry["seeds"]), _percent_with_ci(entry),
            _signed(entry.get("gain_points")), _signed(entry.get("gain_percent")), f"{100 * entry['macro_f1_mean']:.1f}",
        ]
        line += [_percent_with_ci(entry["cross_accuracy"]) if entry["cross_accuracy"] else "–"] if with_cross else []
        lines.append(line)
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    text = [title] + [
        "  ".join([line[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(line[1:], widths[1:])])
        for line in lines
    ]
    return "\n".join(text + [_bound_line(result["bound"])])


def _bound_line(bound: dict | None) -> str:
    if bound is None:
        return "bound: none (needs at least two ratios)"
    verdict = ", no synthetic ratio did significantly better than real only" if bound["bound"] == 0 else ""
    line = (f"bound: ratio {bound['bound']:g}{verdict} (best ratio {bound['best_ratio']:g}, "
            f"{100 * bound['best_mean']:.1f} %; accuracy falls after the best: "
            f"{'yes' if bound['falls_after_best'] else 'no'}) — {bound['method']}")
    return textwrap.fill(line, _TABLE_WIDTH, subsequent_indent="  ", break_on_hyphens=False)


def _percent_with_ci(numbers: dict) -> str:
    """'72.0 ± 5.0' (mean ± 95 % CI half-width, in %), or the mean alone where one seed gives no interval."""
    low, high = numbers["ci95"]
    mean = f"{100 * numbers['mean']:.1f}"
    return mean if low is None else f"{mean} ± {100 * (high - low) / 2:.1f}"


def _plot_ratios(axis: Any, entries: list[dict], colour: str, labels: tuple[str, str], band_alpha: float,
                 **style: Any) -> None:
    """Mean accuracy against the ratio, and its 95 % CI band."""
    ratios = [entry["ratio"] for entry in entries]
    axis.plot(ratios, [100 * entry["mean"] for entry in entries], color=colour, label=labels[0], **style)
    axis.fill_between(ratios, *zip(*(_percent_interval(entry) for entry in entries)), color=colour, alpha=band_alpha,
                      label=labels[1])


def _percent_interval(entry: dict) -> tuple[float, float]:
    low, high = entry["ci95"]
    return (math.nan, math.nan) if low is None else (100 * low, 100 * high)


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"


def _plot_confusion(counts: np.ndarray, emotions: list[str], title: str, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    percent = 100 * counts / np.maximum(counts.sum(1, keepdims=True), 1)  # an absent emotion: a row of zeros
    size = 2.5 + 0.7 * len(emotions)
    figure = Figure(figsize=(size + 1, size))
    FigureCanvasAgg(figure)
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
