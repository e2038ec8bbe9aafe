"""Datasets: loading any supported format into a FaceSet, splitting it honestly, describing it.

Names are imported on first use (PEP 562): the command line reads fersyn.data.layout without numpy."""

import importlib
from typing import Any

_PUBLIC = {"FaceSet": "fersyn.data.faceset", "load_dataset": "fersyn.data.formats", "Split": "fersyn.data.splits",
           "split_dataset": "fersyn.data.splits"}
__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'fersyn.data' has no attribute '{name}'")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
