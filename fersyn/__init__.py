"""fersyn: how far can GAN-generated facial-expression data help a CNN recognise emotions on real faces?

The public Python API (docs/python.md):

    from fersyn import Sweep, run_sweep, Summary
    result = run_sweep(Sweep(data="toy", ratios=(0, 1), seeds=2, steps=200, train_steps=100), "my-sweep")
    summary = Summary.read("my-sweep")

Kept import-light on purpose: each name is imported on first use (PEP 562), and TensorFlow only by the
code that trains or runs a model, so that ``fersyn --help`` and ``fersyn data info`` start fast.
"""

import importlib
import os
from typing import Any

__version__ = "0.3.0"

# TensorFlow's C++ start-up chatter (CUDA probes, CPU-feature notes) hides fersyn's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fersyn.errors import FersynError  # noqa: E402  (public: the one exception users catch)

_PUBLIC = {  # name → the module that defines it
    "Sweep": "fersyn.sweep.spec", "run_sweep": "fersyn.sweep.run", "SweepResult": "fersyn.sweep.run",
    "report": "fersyn.analysis.report", "Summary": "fersyn.analysis.summary",
    "Regime": "fersyn.data.regime", "Recipe": "fersyn.generation.recipe",
    "generate": "fersyn.generation.sets", "generate_sets": "fersyn.generation.sets",
    "load_dataset": "fersyn.data", "FaceSet": "fersyn.data", "Split": "fersyn.data",
    "IdentityGenerator": "fersyn.plugins.contracts", "ExpressionGenerator": "fersyn.plugins.contracts",
    "Classifier": "fersyn.plugins.contracts", "Judge": "fersyn.plugins.contracts", "option": "fersyn.plugins.options",
    "register_identity": "fersyn.plugins.registry", "register_expression": "fersyn.plugins.registry",
    "register_classifier": "fersyn.plugins.registry", "register_judge": "fersyn.plugins.registry",
    "list_plugins": "fersyn.plugins.registry", "create_plugin": "fersyn.plugins.registry",
}
__all__ = ["FersynError", "__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'fersyn' has no attribute '{name}'")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
