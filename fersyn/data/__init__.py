"""Datasets: loading any supported format into a FaceSet, splitting it honestly, describing it."""

from fersyn.data.faceset import FaceSet
from fersyn.data.formats import load_dataset
from fersyn.data.splits import Split, split_dataset

__all__ = ["FaceSet", "Split", "load_dataset", "split_dataset"]
