"""Reproduce the VISAPP 2023 study on real faces (CK+48 and the FER2013 subset) with `fersyn` commands.

    python benchmarks/reproduce.py [--quick] [--data-dir ../shared/data] [--work reproduction-work]
                                   [--results benchmarks/results] [--only SETTING ...] [--dry-run]

It fits the built-in generators (dcgan identities + stargan expressions) three times — on the CK+48
training subjects, on a quarter of them, on the FER2013 subset's training rows — plus the `real`
identity ablation (training faces as identities, the same fitted stargan), then runs one
`fersyn benchmark` sweep per setting over the Ekman six, ratios 0, 0.5, 1, 2, 3, 5, 7, 10 and
3 seeds. Test faces are always the CK+48 test subjects (never seen by a generator); every sweep
is also scored on the FER2013 subset's test rows (`--test-data`, the cross-dataset score).

Settings (the folder names under --results):
  ck-in-dataset           generators fitted on the CK+ training subjects; steps budget; with the
                          augmentation control and a synthetic-only cell
  ck-real-identity        the same stargan applied to real training faces (no identity GAN)
  ck-epochs-budget        ck-in-dataset's set under the paper's protocol: epochs, early stopping
  external                generators fitted on FER2013 training rows (the paper's setting:
                          knowledge from outside the real set), small-cnn
  external-paper-cnn      the same with the paper's CNN
  low-data                25 % of the CK+ training subjects (generators fitted on those only),
                          with the augmentation control
  low-data-real-identity  the real-identity ablation in the low-data regime

Everything is resumable: rerun the same command after an interruption and finished generators,
sets and cells are reused. Work files (HDF5 sets made from CK+/FER pixels, checkpoints, sample
grids) stay in --work and must not be committed; --results receives only numbers and plots of
numbers: results.csv, summary.json, sweep.json, accuracy and confusion plots, table.md per setting,
and README.md + reproduction.json for the whole run.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
RATIOS = "0,0.5,1,2,3,5,7,10"
TOP_RATIO = 10
SEEDS = 3
LOW_DATA_FRACTION = 0.25


@dataclass(frozen=True)
class Scale:
    """How much compute each part gets; `--quick` trades precision for time."""

    generator_steps: int
    small_cnn_steps: int  # steps budget of small-cnn sweeps on all CK+ training subjects
    low_data_steps: int  # and on a quarter of them
    paper_cnn_steps: int | None  # None: no paper-cnn sweep
    max_epochs: int  # the epochs budget: at most this many passes, early stopping


# Default: ≈ 105 min on a 2-core CPU (README, Results). small-cnn reaches ≈ 93 % on CK+ real-only in 165 steps;
# paper-cnn (learning rate 1e-4) still improves at 330 steps, so it gets more.
DEFAULT = Scale(generator_steps=1000, small_cnn_steps=240, low_data_steps=120, paper_cnn_steps=330, max_epochs=20)
QUICK = Scale(generator_steps=300, small_cnn_steps=120, low_data_steps=60, paper_cnn_steps=None, max_epochs=10)


@dataclass(frozen=True)
class GeneratedSet:
    name: str
    data: str  # "ck" or "fer"
    train_fraction: float = 1.0
    identity: str = "dcgan"
    fitted_with: str | None = None  # the set whose checkpoints (its stargan) this one reuses


@dataclass(frozen=True)
class Setting:
    name: str
    title: str
    question: str
    synthetic: str  # a GeneratedSet name
    budget: str = "steps"
    classifier: str = "small-cnn"
    train_fraction: float = 1.0
    extra: tuple[str, ...] = field(default=())


SETS = (
    GeneratedSet("ck", "ck"),
    GeneratedSet("ck-real", "ck", identity="real", fitted_with="ck"),
    GeneratedSet("ck-quarter", "ck", LOW_DATA_FRACTION),
    GeneratedSet("ck-quarter-real", "ck", LOW_DATA_FRACTION, identity="real", fitted_with="ck-quarter"),
    GeneratedSet("fer", "fer"),
)

SETTINGS = (
    Setting("ck-in-dataset", "CK+48 in-dataset (generators fitted on the CK+ training subjects)",
            "Does synthetic data from generators that saw only the real training set help, and does it beat "
            "plain augmentation at the same image count?", "ck", extra=("--control", "augment", "--synthetic-only")),
    Setting("ck-real-identity", "CK+48, real-identity ablation (stargan edits of real training faces)",
            "Is the identity GAN needed, or do expression edits of the real training faces do as well?", "ck-real"),
    Setting("ck-epochs-budget", "CK+48 in-dataset under the epochs budget (the paper's protocol)",
            "How much of a gain comes from the extra gradient steps that more data brings under a fixed "
            "number of epochs?", "ck", budget="epochs"),
    Setting("external", "External generators (fitted on FER2013 training rows), classifier on CK+48",
            "The paper's setting: do generators carrying knowledge from outside the real set help?", "fer"),
    Setting("external-paper-cnn", "External generators, the paper's CNN",
            "The paper's setting with the paper's classifier.", "fer", classifier="paper-cnn"),
    Setting("low-data", "Low-data regime: 25 % of the CK+ training subjects",
            "Where real data is scarce, does synthetic data matter more?", "ck-quarter",
            train_fraction=LOW_DATA_FRACTION, extra=("--control", "augment")),
    Setting("low-data-real-identity", "Low-data regime, real-identity ablation",
            "The real-identity ablation with a quarter of the training subjects.", "ck-quarter-real",
            train_fraction=LOW_DATA_FRACTION),
)


class Reproduction:
    def __init__(self, data_dir: Path, work: Path, results: Path, scale: Scale, dry_run: bool) -> None:
        self.data = {"ck": data_dir / "CK+48", "fer": data_dir / "fer2013-subset.csv.gz"}
        self.work, self.results, self.scale, self.dry_run = work, results, scale, dry_run
        self.commands: dict[str, list[str]] = {}

    def set_path(self, name: str) -> Path:
        return self.work / "sets" / f"{name}.h5"

    def shown(self, path: Path) -> str:
        """Paths relative to the repository where possible, so the recorded commands work from a clone."""
        return os.path.relpath(path, REPOSITORY)

    def generate_command(self, generated: GeneratedSet) -> list[str]:
        # Room for ratio 10 against the CK+ training split the set is mixed into (+6: one per emotion).
        count = math.ceil(TOP_RATIO * _training_faces(self.data["ck"], generated.train_fraction)) + 6
        checkpoints = self.work / "generators" / (generated.fitted_with or generated.name)
        command = ["generate", "--data", self.shown(self.data[generated.data]), "--identity", generated.identity,
                   "--count", count, "--train-steps", self.scale.generator_steps, "--checkpoints", self.shown(checkpoints),
                   "--out", self.shown(self.set_path(generated.name))]
        if generated.train_fraction < 1:
            command += ["--train-fraction", generated.train_fraction]
        return [str(part) for part in command]

    def benchmark_command(self, setting: Setting) -> list[str]:
        low = setting.train_fraction < 1
        if setting.budget == "epochs":
            budget = ["--budget", "epochs", "--epochs", self.scale.max_epochs, "--patience", 5]
        elif setting.classifier == "paper-cnn":
            budget = ["--steps", self.scale.paper_cnn_steps]
        else:
            budget = ["--steps", self.scale.low_data_steps if low else self.scale.small_cnn_steps]
        command = ["benchmark", "--data", self.shown(self.data["ck"]),
                   "--synthetic", self.shown(self.set_path(setting.synthetic)), "--ratio", RATIOS, "--seeds", SEEDS,
                   "--classifier", setting.classifier, *budget, "--test-data", self.shown(self.data["fer"]),
                   "--out", self.shown(self.work / "sweeps" / setting.name), *setting.extra]
        if low:
            command += ["--train-fraction", setting.train_fraction]
        return [str(part) for part in command]

    def settings(self, only: list[str]) -> list[Setting]:
        return [s for s in SETTINGS if (not only or s.name in only)
                and (s.classifier != "paper-cnn" or self.scale.paper_cnn_steps is not None)]

    def run(self, only: list[str]) -> None:
        settings = self.settings(only)
        steps, generated = [], set()
        for setting in settings:  # each set just before the first sweep that needs it
            wanted = next(g for g in SETS if g.name == setting.synthetic)
            for needed in [g for g in SETS if g.name == wanted.fitted_with] + [wanted]:
                if needed.name not in generated:
                    generated.add(needed.name)
                    steps.append((f"generate {needed.name}", self.generate_command(needed), needed))
            steps.append((f"benchmark {setting.name}", self.benchmark_command(setting), setting))
        started = time.perf_counter()
        for number, (label, command, subject) in enumerate(steps, 1):
            self.commands[label] = command
            print(f"\n[{number}/{len(steps)}, {_minutes(time.perf_counter() - started)} so far] {label}\n"
                  f"$ fersyn {shlex.join(command)}", flush=True)
            if self.dry_run:
                continue
            if isinstance(subject, GeneratedSet) and self.set_path(subject.name).exists():
                print("already generated: reused", flush=True)
                continue
            (self.work / "sets").mkdir(parents=True, exist_ok=True)
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "fersyn", *command], check=True, cwd=REPOSITORY)
            self.record_time(label, time.perf_counter() - began)
            if isinstance(subject, Setting):
                self.export(subject)
        if not self.dry_run:
            sets = [g for g in SETS if g.name in generated]
            self.write_overview(settings, sets)
            plot_regimes(self.results, [s.name for s in settings])

    def record_time(self, label: str, seconds: float) -> None:
        """Add up each step's time over runs in --work/timings.json, so that a resumed reproduction
        reports the time its steps took in all (a rerun of a finished sweep adds only its report)."""
        path = self.work / "timings.json"
        timings = json.loads(path.read_text()) if path.exists() else {}
        timings[label] = timings.get(label, 0) + seconds
        path.write_text(json.dumps(timings, indent=2))

    def export(self, setting: Setting) -> None:
        """Numbers and plots of numbers only: no HDF5 set, checkpoint or face grid leaves --work."""
        from fersyn.report import format_table

        sweep = self.work / "sweeps" / setting.name
        target = self.results / setting.name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for item in sweep.iterdir():
            if item.is_file() and item.suffix in (".csv", ".json", ".png") and not item.name.startswith("."):
                shutil.copy2(item, target / item.name)
        table = format_table(json.loads((sweep / "summary.json").read_text()))  # the sweep wrote its report
        (target / "table.md").write_text(
            f"# {setting.title}\n\n{setting.question}\n\n"
            f"```\nfersyn {shlex.join(self.benchmark_command(setting))}\n```\n\n"
            f"```\n{table}\n```\n\n![accuracy vs ratio](accuracy_vs_ratio.png)\n")

    def write_overview(self, settings: list[Setting], sets: list[GeneratedSet]) -> None:
        from fersyn.data.synthetic import read_synthetic_attributes

        timings = json.loads((self.work / "timings.json").read_text())
        seconds = sum(timings.get(label, 0) for label in self.commands)

        quality = {}
        for generated in sets:
            attributes = read_synthetic_attributes(self.set_path(generated.name))
            quality[generated.name] = {"metrics": attributes.get("metrics"),
                                       "provenance": _without_names(attributes.get("provenance", {}))}
        overview = {"seconds_total": seconds, "scale": self.scale.__dict__,
                    "seconds_per_command": {label: timings.get(label) for label in self.commands},
                    "commands": {label: "fersyn " + shlex.join(c) for label, c in self.commands.items()},
                    "generated_sets": quality}
        self.results.mkdir(parents=True, exist_ok=True)
        (self.results / "reproduction.json").write_text(json.dumps(overview, indent=2, default=str))
        (self.results / "README.md").write_text(_overview_markdown(settings, self.results, quality, overview))
        print(f"\nreproduction finished in {_minutes(seconds)}; results in {self.results}/", flush=True)


# The comparison figure: per regime, the GAN cells against their controls, all from summary.json.
REGIMES = (
    ("all CK+48 training subjects", (("ck-in-dataset", "GAN (dcgan + stargan, fitted on CK+)"),
                                     ("ck-in-dataset:augment", "augmentation control"),
                                     ("ck-real-identity", "real identities + stargan"),
                                     ("external", "GAN fitted on FER2013"),
                                     ("ck-epochs-budget", "GAN, epochs budget"))),
    ("25 % of the CK+48 training subjects", (("low-data", "GAN (fitted on those subjects)"),
                                             ("low-data:augment", "augmentation control"),
                                             ("low-data-real-identity", "real identities + stargan"))),
)


def plot_regimes(results: Path, available: list[str]) -> Path:
    """results/comparison.png: accuracy against ratio per regime, the GAN beside its controls."""
    from fersyn.figures import new_figure, save_figure

    figure = new_figure(13, 5)
    for axis, (title, curves) in zip(figure.subplots(1, len(REGIMES), sharey=True), REGIMES):
        for index, (curve, label) in enumerate(curves):
            name, _, control = curve.partition(":")
            if name not in available:
                continue
            (result,) = json.loads((results / name / "summary.json").read_text())["classifiers"].values()
            entries = result["analysis"]["curves"]["augmented" if control else "synthetic"]["ratios"]
            ratios = [entry["ratio"] for entry in entries]
            axis.plot(ratios, [100 * e["accuracy"] for e in entries], marker="os^vd"[index], color=f"C{index}", label=label)
            axis.fill_between(ratios, [100 * e["ci95"][0] for e in entries], [100 * e["ci95"][1] for e in entries],
                              color=f"C{index}", alpha=0.12)
        axis.set(title=title, xlabel="synthetic images per real training image", ylabel="CK+48 test accuracy, %")
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    return save_figure(figure, results / "comparison.png", dpi=110)


@functools.cache  # one load of the data set per regime, not one per command
def _training_faces(data: Path, train_fraction: float) -> int:
    from fersyn.data import load_dataset, split_dataset

    return len(split_dataset(load_dataset(data), seed=0, train_fraction=train_fraction).train)


def _without_names(provenance: dict) -> dict:
    return {key: value for key, value in provenance.items() if key != "training_names"}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _overview_markdown(settings: list[Setting], results: Path, quality: dict, overview: dict) -> str:
    lines = ["# Reproduction of the VISAPP 2023 study on CK+48 and the FER2013 subset", "",
             f"Made by `python benchmarks/reproduce.py` in {_minutes(overview['seconds_total'])} on a 2-core CPU "
             "(the commands are in reproduction.json). Accuracy on the CK+48 test subjects (cross-data: the "
             "FER2013 subset's test rows), mean and 95 % bootstrap interval over test subjects and seeds, in %.", "",
             "| setting | classifier, budget | real only | ratio 5 | gain at 5, pts | best ratio | bound "
             "| GAN − augment at 5 | cross-data: real only → ratio 5 |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [_headline_row(setting, json.loads((results / setting.name / "summary.json").read_text()))
              for setting in settings]
    lines += ["", "Rules: " + json.loads((results / settings[0].name / "summary.json").read_text())["rules"], "",
              "## Generated sets (quality measured by `fersyn generate`)", "",
              "| set | fitted on | steps | expression fidelity | FD-fer | identity retrieval |",
              "|---|---|---|---|---|---|"]
    for name, entry in quality.items():
        metrics, made = entry["metrics"] or {}, entry["provenance"]
        fitted_on = f"{Path(made['data']['source']).name}, {made['data']['train_images']} training faces"
        steps = f"{made['identity']['plugin']} {made['identity']['trained_steps']}, " \
                f"{made['expression']['plugin']} {made['expression']['trained_steps']}"
        lines.append(f"| {name} | {fitted_on} | {steps} | {metrics['expression_fidelity']:.1%} | "
                     f"{metrics['fd_fer']:.1f} | {metrics['identity_retrieval']:.1%} |")
    return "\n".join(lines) + "\n"


def _headline_row(setting: Setting, summary: dict) -> str:
    (result,) = summary["classifiers"].values()
    curve = result["analysis"]["curves"]["synthetic"]
    by_ratio = {entry["ratio"]: entry for entry in curve["ratios"]}
    real, five = by_ratio[0.0], by_ratio[5.0]
    bound = curve["bound"]
    versus = next((e for c in result["analysis"]["comparisons"] for e in c["ratios"] if e["ratio"] == 5.0), None)
    cross = {(arm["curve"], arm["ratio"]): arm for arm in (result["cross"] or {}).get("arms", [])}
    cross_line = (f"{_with_ci(cross[('real only', 0.0)]['value'], cross[('real only', 0.0)]['ci95'])} → "
                  f"{_with_ci(cross[('synthetic', 5.0)]['value'], cross[('synthetic', 5.0)]['ci95'])}" if cross else "–")
    return " | ".join([
        f"| [{setting.name}]({setting.name}/table.md)", f"{setting.classifier}, {setting.budget}",
        _with_ci(real["accuracy"], real["ci95"]), _with_ci(five["accuracy"], five["ci95"]),
        _with_ci(five["gain"], five["gain_ci95"]), f"{curve['best']['ratio']:g}",
        f"{bound['ratio']:g}" if bound["conclusive"] else "inconclusive",
        "–" if versus is None else f"{_with_ci(versus['value'], versus['ci95'])} (p Holm {versus['p_holm']:.2g})",
        f"{cross_line} |"])


def _with_ci(value: float, ci: list) -> str:
    return f"{100 * value:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller budgets (GANs 300 steps, half the classifier steps), small-cnn only")
    parser.add_argument("--data-dir", type=Path, default=REPOSITORY.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=REPOSITORY / "reproduction-work")
    parser.add_argument("--results", type=Path, default=REPOSITORY / "benchmarks" / "results")
    parser.add_argument("--only", nargs="+", choices=[s.name for s in SETTINGS], default=[])
    parser.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    arguments = parser.parse_args()
    for path in (arguments.data_dir / "CK+48", arguments.data_dir / "fer2013-subset.csv.gz"):
        if not path.exists():
            sys.exit(f"reproduce: {path} not found; give the folder holding CK+48/ and fer2013-subset.csv.gz with --data-dir")
    reproduction = Reproduction(arguments.data_dir.absolute(), arguments.work.absolute(), arguments.results.absolute(),
                                QUICK if arguments.quick else DEFAULT, arguments.dry_run)
    try:
        reproduction.run(arguments.only)
    except subprocess.CalledProcessError as error:
        sys.exit(f"reproduce: `{shlex.join(error.cmd[2:])}` failed (exit {error.returncode}); fix it and rerun: "
                 "finished steps are reused")


if __name__ == "__main__":
    main()
