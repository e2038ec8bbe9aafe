"""The plots of a sweep: accuracy against the ratio per curve with its band and the bound, and the confusion
matrices of real only and of the best ratio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from fersyn.analysis.arms import CURVES, POSITIVE_CONTROL, SYNTHETIC_ONLY_ARM
from fersyn.analysis.figures import new_figure, save_figure
from fersyn.analysis.rules import REAL_ONLY_ARM
from fersyn.sweep.spec import REAL_ONLY, REAL_PLUS_AUGMENTED, REAL_PLUS_SYNTHETIC


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
