"""The schema of results.csv: one `Row` per finished or failed cell, its `Scores` where it trained. A row is written
flat: its key, the sweep's names (data, synthetic set, …), the cell's whole configuration (the sweep's, and the
cell's classifier, training, ratio, seed and fold), then the fields below, `recall_<emotion>` per emotion, and the
time it finished. `report` reads the table back by these column names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def column(help: str = "", default: Any = None) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Scores:
    """What a trained cell measured; a failed cell has none."""

    n_real: int = column("real training faces")
    n_extra: int = column("faces added (synthetic, augmented or unused real)")
    extra_repeated: int = column("added faces used more than once (too few to draw from)")
    batch_size: int = column()
    step_budget: int | None = column("gradient steps allowed (budget steps)")
    steps: int = column("gradient steps taken")
    epochs: float = column("passes over the cell's training stream")
    validations: int = column("validation rounds")
    best_validation: int = column("the round whose weights were kept")
    peaked_late: bool = column("best validation in the last 10 % of the budget's rounds: the budget may be binding")
    train_seconds: float = column()
    images_per_second: float = column()
    accuracy: float = column("on the fold's real test faces")
    macro_f1: float = column()
    confusion: str = column("JSON, rows = true emotion")
    test_predictions: str = column("predicted class index per test face, in sweep.json's test_faces order")
    cross_accuracy: float | None = column("on --test-data's test faces")
    cross_macro_f1: float | None = column()
    cross_confusion: str = column(default="")
    cross_predictions: str = column("as test_predictions, for --test-data", "")
    recall: dict[str, float] = field(default_factory=dict, metadata={"help": "recall_<emotion>: per emotion"})

    def columns(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        recall = values.pop("recall")
        return {**values, **{f"recall_{emotion}": value for emotion, value in recall.items()}}


@dataclass(frozen=True)
class Row:
    key: str = column("hash of the cell's whole configuration (rows are matched on it)")
    classifier: str = column("plugin name, with options that differ from their defaults")
    classifier_plugin: str = column("plugin name")
    precision: str = column("the precision policy the cell trained under")
    generator_fit: int = column("the generator fit whose sets the cell's seed mixes in, seed mod `generator_fits` (every "
                                "arm of the seed belongs to it, real only included; absent in older tables: one fit)")
    synthetic_check: str | None = column("how the cell's synthetic set was proved never to have seen a held-out face")
    names: dict[str, Any] = field(default_factory=dict, metadata={"help": "the sweep's data, synthetic set, generators, "
                                                                          "test data and strategy, by name"})
    config: dict[str, Any] = field(default_factory=dict, metadata={"help": "the cell's whole configuration"})
    scores: Scores | None = None
    status: str = column("ok or failed", "ok")
    error: str = column("why a cell failed", "")

    def columns(self) -> dict[str, Any]:
        """The row as results.csv holds it, in its column order (without `finished`, which the store adds)."""
        return {"key": self.key, **self.names, **self.config, "classifier": self.classifier,
                "classifier_plugin": self.classifier_plugin, "precision": self.precision,
                "generator_fit": self.generator_fit, "synthetic_check": self.synthetic_check,
                **(self.scores.columns() if self.scores else {}), "status": self.status, "error": self.error}


def described(*classes: type) -> dict[str, str]:
    """Column → what it holds, for the fields of `classes` that are columns of their own."""
    return {f.name: f.metadata["help"] for cls in classes for f in dataclasses.fields(cls)
            if "help" in f.metadata and f.name not in ("names", "config", "recall")}
