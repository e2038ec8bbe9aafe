"""What every output records about how it was made."""

from __future__ import annotations

import importlib.metadata
import platform


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape fersyn's numbers."""
    versions = {"python": platform.python_version()}
    for package in ("fersyn", "tensorflow", "keras", "numpy", "h5py"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
