"""The example plugins in plugins/: the package installs with pip and shows up in `fersyn plugins` with
its own origin. (plugins/mobilenet_classifier.py is the walkthrough's section 4, word for word: the
test kit checks it there, tests/test_docs.py.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


@pytest.mark.slow
def test_the_vae_package_installs_and_registers_with_its_own_origin(tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(PLUGINS / "fersyn-vae")], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    listing = subprocess.run(
        [sys.executable, "-c", "from fersyn.cli import main; main()", "plugins", "--kind", "identity", "--json"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(target)})
    assert listing.returncode == 0, listing.stderr
    plugins = {p["name"]: p for p in json.loads(listing.stdout)["plugins"]}
    assert plugins["vae"]["origin"] == "fersyn-vae" and plugins["dcgan"]["origin"] == "built-in"
