"""tf.distribute on the CPU: `mirrored` over two logical devices trains like one device, and two
local worker processes on loopback ports train a built-in GAN under `multiworker` in step."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fersyn.errors import FersynError
from fersyn.runtime.distribute import make_strategy

SCRIPTS = Path(__file__).parent / "distributed"


def result_of(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, output[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.slow
def test_mirrored_over_two_cpu_devices_trains_like_one_device():
    done = subprocess.run([sys.executable, SCRIPTS / "mirrored_losses.py", "4"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = result_of(done.stdout)
    one, mirrored = result["default"], result["mirrored"]
    assert result["replicas"] == 2
    # Each replica keeps its own slice of the global draw: together, exactly the one-device draw.
    assert np.allclose(one["draw"], mirrored["draw"]) and len(mirrored["draw"]) == 8
    # per_replica_loss: plain SGD (unlike Adam, sensitive to the gradient's scale) lands on the same weights.
    assert np.allclose(one["sgd"], mirrored["sgd"], atol=1e-5)
    # The built-in GAN and a classifier follow the one-device trajectory; batch norm (statistics per
    # replica) and dropout (masks per replica) keep them from matching exactly.
    for key in ("d_loss", "g_loss"):
        single, split = (np.array([step[key] for step in run["gan"]]) for run in (one, mirrored))
        assert np.allclose(single, split, rtol=0.05), (key, single, split)
    assert np.allclose(one["classifier"], mirrored["classifier"], rtol=0.05)
    assert len(one["gan"]) == len(mirrored["gan"]) == 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_local_workers_train_a_gan_in_step_under_multiworker():
    workers = [f"localhost:{free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen([sys.executable, SCRIPTS / "multiworker_gan.py", "4"],
                                          env={**os.environ, "TF_CONFIG": config}, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    try:
        outputs = [process.communicate(timeout=300) for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    chief, other = (result_of(stdout) for stdout, _ in outputs)
    assert (chief["chief"], other["chief"]) == (True, False)
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["steps"] == other["steps"] == 4
    assert chief["checksum"] == pytest.approx(other["checksum"], rel=1e-6)  # the workers' weights stayed in sync


def test_multiworker_without_tf_config_and_unknown_strategies_are_clear_errors(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(FersynError, match="needs the TF_CONFIG environment variable"):
        make_strategy("multiworker")
    with pytest.raises(FersynError, match="unknown"):
        make_strategy("tpu")
    assert make_strategy("default").num_replicas_in_sync == 1
