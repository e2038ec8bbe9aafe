"""`Summary`: the schema of a sweep's summary.json, typed — per classifier, every curve's accuracy and gain at each
ratio with its interval and Holm-corrected p, the bound and the verdict; the efficiencies against the positive
control; the comparisons between curves. Accuracies and gains are fractions (0.047 = 4.7 points).

    summary = Summary.read("fersyn-benchmark")
    gain = summary.curve("synthetic").at(1.0).gain      # an Estimate: value, ci95, p_holm, significant
    print(summary.curve("synthetic").verdict)

Written by fersyn.analysis.report (`report`, `run_sweep`); `raw` keeps the whole JSON for the fields not typed here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from fersyn.errors import FersynError
from fersyn.sweep.store import SUMMARY


@dataclass(frozen=True)
class Estimate:
    """A number with its 95 % interval; for a tested difference, its Holm-corrected p and whether it is significant."""

    value: float
    ci95: tuple[float, float]
    p_holm: float | None = None
    significant: bool | None = None
    borderline: bool = False
    at_floor: bool = False  # no resample on the other side of 0: the true p is at most p_holm

    @property
    def points(self) -> float:
        return 100 * self.value


@dataclass(frozen=True)
class Point:
    """One ratio of a curve: its accuracy and, above ratio 0, its gain over real only."""

    ratio: float
    accuracy: Estimate
    gain: Estimate | None
    gain_mde: float | None = None  # the gain this ratio's design detects with the rules' power
    falls_back: bool = False

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Point:
        gain = None
        if "gain" in entry:
            gain = Estimate(entry["gain"], tuple(entry["gain_ci95"]), entry.get("gain_p_holm"),
                            entry.get("gain_significant"), bool(entry.get("gain_borderline", False)),
                            bool(entry.get("gain_p_at_floor", False)))
        return cls(entry["ratio"], Estimate(entry["accuracy"], tuple(entry["ci95"])), gain, entry.get("gain_mde"),
                   bool(entry.get("falls_back", False)))


@dataclass(frozen=True)
class Curve:
    name: str
    points: tuple[Point, ...]
    verdict: str
    mde: float | None  # the gain detectable with the rules' power, a fraction
    bound: float | None  # the smallest ratio shown within the margin of the best (None: inconclusive)
    best_ratio: float

    def has(self, ratio: float) -> bool:
        return any(point.ratio == ratio for point in self.points)

    def at(self, ratio: float) -> Point:
        for point in self.points:
            if point.ratio == ratio:
                return point
        raise FersynError(f"curve {self.name} has no ratio {ratio:g} (ratios: "
                          f"{', '.join(f'{p.ratio:g}' for p in self.points)})")

    @property
    def gains(self) -> dict[float, Estimate]:
        return {point.ratio: point.gain for point in self.points if point.gain is not None}


@dataclass(frozen=True)
class ClassifierSummary:
    name: str
    curves: dict[str, Curve]
    efficiency: dict[str, dict[float, Estimate]]  # curve → ratio → its gain ÷ the positive control's
    comparisons: dict[tuple[str, str], dict[float, Estimate]]  # (curve, other) → ratio → difference
    cross: ClassifierSummary | None = None  # the same on the cross-dataset test faces


@dataclass(frozen=True)
class Summary:
    folds: int
    test_faces: int
    margin: float  # the bound's equivalence margin, a fraction
    emotions: tuple[str, ...]
    classifiers: dict[str, ClassifierSummary]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def read(cls, folder: str | Path) -> Summary:
        """The summary.json of a sweep folder (written by `run_sweep` or `report`)."""
        path = Path(folder) / SUMMARY
        if not path.is_file():
            raise FersynError(f"{folder}: no {SUMMARY}; run `fersyn benchmark --out {folder}` or `fersyn report "
                              f"{folder}` first")
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, summary: Mapping[str, Any]) -> Summary:
        classifiers = {name: _classifier(name, entry.get("analysis") or {}, entry.get("cross"))
                       for name, entry in summary.get("classifiers", {}).items()}
        return cls(summary["folds"], summary["test_faces"], summary["margin"], tuple(summary["emotions"]),
                   classifiers, dict(summary))

    def classifier(self, name: str | None = None) -> ClassifierSummary:
        """The summary of classifier `name` (None: the sweep's only one)."""
        if name is None:
            if len(self.classifiers) != 1:
                raise FersynError(f"this sweep has classifiers {', '.join(self.classifiers)}: name one")
            return next(iter(self.classifiers.values()))
        if name not in self.classifiers:
            raise FersynError(f"no classifier {name} in this sweep (it has {', '.join(self.classifiers)})")
        return self.classifiers[name]

    def curve(self, name: str = "synthetic", classifier: str | None = None) -> Curve:
        curves = self.classifier(classifier).curves
        if name not in curves:
            raise FersynError(f"no curve {name} in this sweep (it has {', '.join(curves)})")
        return curves[name]


def _classifier(name: str, analysis: Mapping[str, Any], cross: Mapping[str, Any] | None) -> ClassifierSummary:
    curves = {curve: Curve(curve, tuple(Point.from_dict(entry) for entry in entries["ratios"]), entries["verdict"],
                           entries.get("mde"), entries["bound"]["ratio"], entries["best"]["ratio"])
              for curve, entries in analysis.get("curves", {}).items()}
    efficiency = {curve: {entry["ratio"]: Estimate(entry["value"], tuple(entry["ci95"])) for entry in entries}
                  for curve, entries in analysis.get("efficiency", {}).items()}
    comparisons = {tuple(entry["curves"]): {r["ratio"]: Estimate(r["value"], tuple(r["ci95"]), r.get("p_holm"),
                                                                 r.get("significant"), bool(r.get("borderline", False)),
                                                                 bool(r.get("p_at_floor", False)))
                                            for r in entry["ratios"]}
                   for entry in analysis.get("comparisons", [])}
    return ClassifierSummary(name, curves, efficiency, comparisons,
                             _classifier(name, cross, None) if cross and cross.get("curves") else None)
