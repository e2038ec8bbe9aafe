"""`Regime`: which real faces, read how, at what size, split how, and how much of the training split is kept —
what a sweep trains and tests on, and what a set's generators are fitted on. Its settings are defined once here
(fersyn.settings) for the Python API and the command line alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from fersyn.data.layout import DEFAULT_LAYOUT, Layout
from fersyn.settings import POSITIVE, check_settings, setting

if TYPE_CHECKING:
    from fersyn.data.faceset import FaceSet
    from fersyn.data.splits import Split


@dataclass(frozen=True)
class Regime:
    data: str = setting("toy", "The real dataset: generators learn from its training split, classifiers train on it, its test split scores them.")
    layout: Layout = setting(DEFAULT_LAYOUT, "How to read `data` (label map, annotations, subjects, face crops).", cli=False)
    emotions: str | tuple[str, ...] = setting(
        "ekman", "Class set: 'ekman' (the six), 'ekman+neutral', 'all', or a comma list such as 'happiness,sadness'.")
    image_size: int = setting(48, "Faces are resized to this square size.", unit="pixels",
                              check=lambda size: 8 <= size <= 1024, rule="must lie between 8 and 1024")
    split_seed: int = setting(0, "Seed of the split or folds (and of generation).")
    train_fraction: float = setting(
        1.0, "Keep this fraction of the training split (whole subjects where known): a low-data regime; val/test "
             "unchanged.", check=lambda fraction: 0 < fraction <= 1, rule="must be above 0 and at most 1")
    folds: int = setting(1, "Subject K-fold cross-validation (StratifiedGroupKFold); 1 = one train/val/test split.",
                         **POSITIVE)

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen: normalise once)
        set_("data", str(self.data))
        for name in ("layout", "test_layout"):  # a mapping, as a stored record gives it
            if isinstance(getattr(self, name, None), Mapping):
                set_(name, Layout(**getattr(self, name)))
        if isinstance(self.emotions, list):  # hashable, as a cache key of the loaded data
            set_("emotions", tuple(self.emotions))
        check_settings(self)

    def load(self) -> FaceSet:
        """The dataset, read under the layout, at the image size, in the class set."""
        from fersyn.data.formats import load_dataset

        return load_dataset(self.data, image_size=self.image_size, emotions=self.emotions, layout=self.layout)

    def splits(self, faces: FaceSet) -> list[Split]:
        """Its folds (one train/validation/test split when `folds` is 1), training splits thinned to `train_fraction`."""
        from fersyn.data.splits import fold_splits

        return fold_splits(faces, self.folds, seed=self.split_seed, train_fraction=self.train_fraction)

    def regime_record(self) -> dict[str, Any]:
        return {"split_seed": self.split_seed, "train_fraction": self.train_fraction, "folds": self.folds}
