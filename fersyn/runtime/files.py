"""Writing outputs safely: a file appears under its name only once it is complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from fersyn.errors import FersynError

CACHE_ENV = "FERSYN_CACHE"  # the cache's folder (default: $XDG_CACHE_HOME/fersyn or ~/.cache/fersyn)

_UMASK = os.umask(0o022)  # reading the umask means setting it: read once, put it back at once
os.umask(_UMASK)


def cache_root() -> Path:
    """Where fersyn keeps what it computes once and reuses across runs (face placements, judges it trains)."""
    return Path(os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fersyn")


def check_output_path(path: str | Path, *, overwrite: bool = True) -> None:
    """Fail with a clear message if `path` cannot be written (missing or read-only folder, or it exists)."""
    path = Path(path)
    if path.is_dir():
        raise FersynError(f"{path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise FersynError(f"{path.parent}: output directory does not exist; create it first")
    if not os.access(path.parent, os.W_OK):
        raise FersynError(f"{path.parent}: output directory is not writable")
    if path.exists() and not overwrite:
        raise FersynError(f"{path} already exists; pass `overwrite` to replace it")


@contextlib.contextmanager
def atomic_output(path: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` if the block succeeds, else delete it."""
    path = Path(path)
    check_output_path(path, overwrite=overwrite)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes it private; the output should not be
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def atomic_folder(folder: Path) -> Iterator[Path]:
    """Yield a new empty folder beside `folder`, renamed to `folder` if the block succeeds: a cache entry is then
    complete or absent, never half-written by a killed run. If another process made `folder` meanwhile, its copy
    is kept (both wrote the same thing)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        yield building
        try:
            os.replace(building, folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
