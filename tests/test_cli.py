import json
import subprocess
import sys

import pytest
from fersyn import __version__
from helpers import assert_one_line_error, run


def test_version_and_help_with_examples():
    assert __version__ in run("--version").output
    for command in ([], ["data", "info"], ["data", "preview"], ["plugins"], ["generate"]):
        result = run(*command, "--help")
        assert result.exit_code == 0 and "Example" in result.output


def test_benchmark_help_states_the_rules_and_the_sweep_options():
    from fersyn.stats import RULES

    result = run("benchmark", "--help")
    assert result.exit_code == 0 and "Examples:" in result.output
    def flat(text):  # as one line, undoing click's rewrapping (which may break after a hyphen)
        return " ".join(text.split()).replace("- ", "-")

    shown = flat(result.output)
    assert flat(RULES) in shown  # the statistics it reports are explained where it is run
    for option in ("--folds", "--control [augment|real]", "--controls-only", "--margin", "--allow-unverified-synthetic",
                   "--synthetic", "--train-fraction"):
        assert option in shown, option
    report = run("report", "--help")
    assert report.exit_code == 0 and "Examples:" in report.output and "--margin" in report.output


def test_help_does_not_import_heavy_modules():
    """`fersyn --help` must answer at once: no numpy, pandas or TensorFlow behind it."""
    code = (
        "import sys; from fersyn.cli import main\n"
        "try: main(['--help'])\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'tensorflow', 'keras') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip().splitlines()[-1] == "[]"


def test_data_info_toy():
    result = run("data", "info", "toy")
    assert result.exit_code == 0, result.output
    assert "images       1440" in result.output and "subjects     120" in result.output
    assert "in two splits: 0" in result.output


def test_data_info_ck48_counts_images_subjects_and_emotions(ck48):
    result = run("data", "info", ck48, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["images"] == 981 and info["subjects"] == 118
    assert info["emotions"] == {"anger": 135, "disgust": 177, "fear": 75, "happiness": 207, "sadness": 84,
                                "surprise": 249, "contempt": 54}
    assert info["split"]["subjects_in_two_splits"] == 0


def test_data_info_fer2013_shows_usage_splits_and_duplicates(fer2013):
    result = run("data", "info", fer2013)
    assert result.exit_code == 0, result.output
    assert "predefined (Usage column)" in result.output
    assert "  total        3631    2800     416     415" in result.output
    assert "duplicates: 80 group(s)" in result.output


def test_data_preview_writes_a_png(tmp_path):
    out = tmp_path / "grid.png"
    result = run("data", "preview", "toy", "--out", out, "--rows", "3")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temporary left behind


def test_plugins_lists_builtins_as_json():
    result = run("plugins", "--kind", "classifier", "--json")
    listed = {p["name"]: p for p in json.loads(result.output)["plugins"]}
    assert listed["paper-cnn"]["origin"] == "built-in" and listed["small-cnn"]["kind"] == "classifier"


def test_plugins_lists_a_broken_plugin_with_its_error(tmp_path):
    (tmp_path / "bad.py").write_text("raise RuntimeError('weights file missing')\n")
    result = run("--plugins-dir", tmp_path, "plugins")
    assert result.exit_code == 0
    assert "BROKEN" in result.output and "RuntimeError: weights file missing" in result.output


@pytest.mark.parametrize(
    "args, text",
    [
        (["data", "info", "/no/such/place"], "no such file, folder or dataset name"),
        (["data", "info", "toy", "--emotions", "happy,bored"], "unknown emotion label 'bored'"),
        (["--plugins-dir", "/no/such/dir", "plugins"], "does not exist"),
        (["data", "preview", "toy", "--out", "/no/such/dir/grid.png"], "output directory does not exist"),
    ],
)
def test_bad_input_is_one_line_and_nonzero_exit(args, text):
    assert_one_line_error(run(*args), text)


def test_bad_files_through_the_cli(tmp_path):
    (tmp_path / "faces.txt").write_text("x")
    assert_one_line_error(run("data", "info", tmp_path / "faces.txt"), "unknown data format")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run("data", "info", tmp_path / "empty"), "no images found")
    (tmp_path / "f.csv").write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    assert_one_line_error(run("data", "info", tmp_path / "f.csv"), "row 2 has 3 pixel values")
    (tmp_path / "f2.csv").write_text("emotion,pixels,Usage\n3,1 2 3 4,Training\n")
    assert_one_line_error(run("data", "info", tmp_path / "f2.csv", "--emotions", "neutral"), "has no images of neutral")


def test_readme_plugin_example_registers_and_builds(cleanup_classifier):
    """The README's plugin example is run as written, so that it cannot rot."""
    import re
    from pathlib import Path

    from fersyn.registry import create_plugin

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"## Plugins.*?```python\n(.*?)```", readme, re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})
    cleanup_classifier.append("tiny-mlp")
    model = create_plugin("classifier", "tiny-mlp").build_model((48, 48, 1), 6)
    assert model.output_shape == (None, 6)


@pytest.fixture
def cleanup_classifier():
    from fersyn.registry import unregister

    names = []
    yield names
    for name in names:
        unregister("classifier", name)
