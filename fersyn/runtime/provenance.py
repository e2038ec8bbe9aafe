"""What every output records about how it was made."""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape fersyn's numbers."""
    versions = {"python": platform.python_version()}
    for package in ("fersyn", "tensorflow", "keras", "numpy", "h5py"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


# The one compatibility rule of every key and record (a sweep folder's configuration, a generator recipe, sweep.json's
# spec): a setting added after records were first kept is left out while it has the value every earlier record
# implied, so that finished cells, fitted generators and sets made before it still match. Each entry: that value,
# and the version that added the setting.
ADDED_SETTINGS: dict[str, tuple[Any, str]] = {
    "filter": (None, "0.2"), "identity_precision": ("float32", "0.2"), "expression_precision": ("float32", "0.2"),
    "layout": ({}, "0.2"), "test_layout": ({}, "0.2"), "preset": (None, "0.2"), "generator_fits": (1, "0.2"),
    "generator_fit": (0, "0.2"), "pretrain": (None, "0.2"), "pretrain_steps": (None, "0.2"),
}


def keyed(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` under the compatibility rule: each added setting left out while it has its earlier value."""
    return {name: value for name, value in settings.items()
            if name not in ADDED_SETTINGS or value != ADDED_SETTINGS[name][0]}
