"""Does mixed precision change the numbers? float32 and mixed side by side, paired over seeds.

1. Real-only accuracy of small-cnn and paper-cnn on a real dataset (CK+48 by default): the same
   split, seeds and steps budget as a benchmark's real-only cell, trained once in float32 and once
   under this machine's mixed policy. small-cnn is built under the mixed policy here although it does
   not opt in (`--precision mixed` trains it in float32, where it is as fast): this measures what
   opting in would cost it.
2. Expression fidelity of a short stargan fit on `toy` (float32 and mixed, same seeds), judged by one
   float32 reference classifier trained on toy's real training split: the share of test faces edited
   into each emotion that it reads as that emotion.

For each quantity: float32 mean ± seed SD, mixed mean ± SD, the paired difference (mixed − float32)
per seed and on average, and whether that average lies within float32's seed-to-seed SD. Writes
benchmarks/results/precision-parity.json.

    python benchmarks/precision_parity.py [--data ../shared/data/CK+48] [--seeds 3] [--steps 600]
        [--stargan-steps 300]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "precision-parity.json"


def real_only_accuracy(faces, split, name: str, policy: str, seed: int, steps: int) -> float:
    """A benchmark's real-only cell by hand: `name` trained `steps` steps on `split`'s training faces
    under `policy` (whether or not the plugin opts in), scored on its test faces."""
    from fersyn.classifiers.protocol import Budget, train_classifier
    from fersyn.plugins.registry import get_plugin
    from fersyn.sweep.mix import TrainingStream

    forced = type("Forced", (get_plugin("classifier", name).cls,), {"mixed_precision": True})
    classifier = forced(channels=faces.images.shape[-1])
    stream = TrainingStream(faces.images[split.train], faces.labels[split.train], classifier.batch_size, seed)
    budget = Budget.of_steps(steps, stream.steps_per_epoch)
    train_classifier(classifier, stream, faces.images[split.val], faces.labels[split.val], len(faces.emotions),
                     budget=budget, seed=seed, policy=policy)
    return float(np.mean(classifier.predict_proba(faces.images[split.test]).argmax(1) == faces.labels[split.test]))


def stargan_fidelity(policy: str, seed: int, steps: int, reference, faces, split) -> float:
    from fersyn.judges.quality import quality_metrics
    from fersyn.plugins.registry import create_plugin
    from fersyn.runtime.precision import precision_scope

    train = faces.subset(split.train)
    with precision_scope(policy):
        generator = create_plugin("expression", "stargan")
        generator.fit(train.images, train.labels, train.emotions, steps=steps, seed=seed)
    test = faces.subset(split.test)
    edits = np.concatenate([generator.apply(test.images, [emotion] * len(test), seed=seed) for emotion in faces.emotions])
    emotions = np.repeat(list(faces.emotions), len(test))
    return quality_metrics(reference, edits, emotions, test, seed=seed)["expression_fidelity"]


def compare(float32: list[float], mixed: list[float]) -> dict:
    differences = np.subtract(mixed, float32)
    spread = float(np.std(float32, ddof=1)) if len(float32) > 1 else float("nan")
    return {"float32": float32, "mixed": mixed, "float32_mean": float(np.mean(float32)), "float32_sd": spread,
            "mixed_mean": float(np.mean(mixed)), "mixed_sd": float(np.std(mixed, ddof=1)) if len(mixed) > 1 else float("nan"),
            "paired_differences": differences.tolist(), "mean_difference": float(differences.mean()),
            "within_seed_spread": bool(abs(differences.mean()) <= spread)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data" / "CK+48"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=600, help="Steps budget of each classifier cell.")
    parser.add_argument("--stargan-steps", type=int, default=300)
    parser.add_argument("--out", default=str(OUT))
    arguments = parser.parse_args()

    from fersyn.data import load_dataset, split_dataset
    from fersyn.judges.quality import fitted_judge
    from fersyn.plugins.registry import load_plugins
    from fersyn.runtime.precision import resolve_precision
    from fersyn.runtime.provenance import package_versions

    load_plugins()
    mixed = resolve_precision("mixed")
    if mixed == "float32":
        raise SystemExit("this machine has no native 16-bit arithmetic: mixed is float32 here, nothing to compare")
    started = time.perf_counter()
    seeds = range(arguments.seeds)
    report: dict = {"mixed_policy": mixed, "seeds": arguments.seeds, "steps": arguments.steps,
                    "stargan_steps": arguments.stargan_steps, "data": Path(arguments.data).name}
    real = load_dataset(arguments.data)  # loaded once, for every cell
    real_split = split_dataset(real, seed=0)
    for name in ("small-cnn", "paper-cnn"):
        runs = {policy: [real_only_accuracy(real, real_split, name, policy, seed, arguments.steps) for seed in seeds]
                for policy in ("float32", mixed)}
        report[f"{name} real-only accuracy"] = compare(runs["float32"], runs[mixed])
        print(f"{name}: {runs}", flush=True)
    toy = load_dataset("toy")
    split = split_dataset(toy, seed=0)
    reference = fitted_judge("reference", toy, split, seed=0)  # float32: one judge for both
    runs = {policy: [stargan_fidelity(policy, seed, arguments.stargan_steps, reference, toy, split) for seed in seeds]
            for policy in ("float32", mixed)}
    report["stargan expression fidelity (toy)"] = compare(runs["float32"], runs[mixed])
    report["minutes"] = round((time.perf_counter() - started) / 60, 1)
    report["versions"] = package_versions()

    print(f"\n{'quantity':<36} {'float32 mean ± SD':>18} {'mixed mean ± SD':>18} {'Δ mixed − float32':>18}  within?")
    for quantity, numbers in report.items():
        if isinstance(numbers, dict) and "mean_difference" in numbers:
            print(f"{quantity:<36} {100 * numbers['float32_mean']:9.1f} ± {100 * numbers['float32_sd']:4.1f}"
                  f"     {100 * numbers['mixed_mean']:7.1f} ± {100 * numbers['mixed_sd']:4.1f}"
                  f"   {100 * numbers['mean_difference']:+10.1f} pts      {'yes' if numbers['within_seed_spread'] else 'NO'}")
    Path(arguments.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{report['minutes']} min; wrote {arguments.out}")


if __name__ == "__main__":
    main()
