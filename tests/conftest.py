"""Shared fixtures. Real data lives in ../shared/data (never in this repository): tests that need it
skip where it is absent (a user's fresh clone), but fail instead when FERSYN_REQUIRE_SHARED_DATA=1,
as .ci/run sets, so that CI always runs them."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# One TensorFlow thread per xdist worker (set before any test imports TensorFlow): two workers on two
# cores, each with TensorFlow's default of a thread per core, fight over the cores; one each trained
# small-cnn 1.6× faster per worker, measured with two processes side by side.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def graph_optimisation_off() -> None:
    """TensorFlow's graph optimiser (grappler) off in the tests' own processes: they train for a few steps, where
    optimising each newly traced graph costs more than it saves (measured on the float32 path: 736 s of test time
    against 817 s with it on). fersyn, the commands the tests start as processes and the benchmarks run with it on."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def _shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        message = f"real data {path} is absent (it lives beside the repository, in ../shared/data)"
        if os.environ.get("FERSYN_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message + " and FERSYN_REQUIRE_SHARED_DATA=1 requires it")
        pytest.skip(message)
    return path


@pytest.fixture
def fer() -> None:
    from helpers import require_fer

    require_fer()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow first: the long ones start early and the short ones fill the gaps at the end, as xdist's
    worksteal (setup.cfg) moves queued tests to the worker that runs out, instead of one finishing alone on a long test."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("each_precision_path"):
        metafunc.parametrize("precision_path", ["native", "no-bf16"], indirect=True)


@pytest.fixture(autouse=True)
def precision_path(request, monkeypatch) -> str:
    """Tests marked `each_precision_path` run twice: as this machine is, and as a CPU without native bfloat16
    is (FERSYN_ASSUME_NO_BF16=1), so that a machine with bfloat16 checks what the others see too."""
    path = getattr(request, "param", "native")
    if path == "no-bf16":
        monkeypatch.setenv("FERSYN_ASSUME_NO_BF16", "1")
    return path


@pytest.fixture
def quick_reference_judge(monkeypatch, tmp_path) -> None:
    """The reference judge trained for 40 steps, not its ≥ 300: for tests of a workflow that fits it on the way
    (a README or docs example), where what it reads is not what is checked (it took 10 s of each such fit). Its
    own judge cache: the cache's key does not hold this budget, and no other test may read such a judge."""
    from fersyn.judges.builtin import ReferenceJudge

    monkeypatch.setenv("FERSYN_CACHE", str(tmp_path / "quick-judge-cache"))
    monkeypatch.setattr(ReferenceJudge, "epochs", 1)
    monkeypatch.setattr(ReferenceJudge, "min_steps", 40)


@pytest.fixture
def ck48() -> Path:
    return _shared("CK+48")


@pytest.fixture
def fer2013() -> Path:
    return _shared("fer2013-subset.csv.gz")


@pytest.fixture
def registry_snapshot():
    """The plugin registry as it was before the test, restored after it: every test that registers or
    loads a plugin of its own uses this, so no test leaves a plugin behind for the next. Yields the
    restoring function (a test may return to that state midway, as a new process would start)."""
    from helpers import saved_registry

    from fersyn.plugins import registry

    # Installed plugins first: their modules stay imported, so a restore that forgot them could not load them again.
    registry.load_plugins()
    restore = saved_registry()
    yield restore
    restore()


@pytest.fixture(scope="session")
def toy_generated(tmp_path_factory):
    """One `fersyn generate` run on toy (helpers.TOY_GENERATE), shared by every test that reads a set it
    wrote, across xdist workers too (the first to need it runs it, the others wait for it): (folder, its
    printed output); the folder holds synth.h5, synth_grid.png and ckpt/."""
    from helpers import TOY_GENERATE, run

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # this session's, whichever worker
    folder, output = shared / "toy-generated", shared / "toy-generated.output"
    with open(shared / "toy-generated.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not output.exists():
            folder.mkdir()
            result = run("generate", *TOY_GENERATE, "--count", 100, "--out", folder / "synth.h5",
                         "--checkpoints", folder / "ckpt")
            assert result.exit_code == 0, result.output
            output.write_text(result.output)
    return folder, output.read_text()


@pytest.fixture(scope="session")
def plugins():
    """Every installed plugin registered (entry points), once per session."""
    from fersyn.plugins.registry import load_plugins

    load_plugins()
