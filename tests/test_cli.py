import json
import subprocess
import sys

import pytest
from helpers import assert_one_line_error, run

from fersyn import __version__


def test_version_and_help_with_examples():
    assert __version__ in run("--version").output
    for command in ([], ["data", "info"], ["data", "preview"], ["plugins"], ["generate"]):
        result = run(*command, "--help")
        assert result.exit_code == 0 and "Example" in result.output


def test_benchmark_help_states_the_rules_and_the_sweep_options():
    from fersyn.analysis.rules import RULES

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


def test_plugins_lists_a_broken_plugin_with_its_error(tmp_path, registry_snapshot):
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
@pytest.mark.each_precision_path
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


def test_readme_plugin_example_registers_and_builds(registry_snapshot):
    """The README's plugin example is run as written, so that it cannot rot."""
    import re
    from pathlib import Path

    from fersyn.plugins.registry import create_plugin

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"## A plugin.*?```python\n(.*?)```", readme, re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})
    model = create_plugin("classifier", "tiny-mlp").build_model((48, 48, 1), 6)
    assert model.output_shape == (None, 6)


def test_every_argument_name_has_one_flag_across_commands():
    from fersyn.cli import flags_of, main

    table = flags_of(main)
    assert {name: flags for name, flags in table.items() if len(flags) > 1} == {}
    assert table["split_seed"] == {"--split-seed"} and table["ratios"] == {"--ratio"}
    assert table["identity_options"] == {"--identity-opt"} and table["train_steps"] == {"--train-steps"}


def test_library_errors_name_arguments_and_the_cli_names_flags(tmp_path):
    from fersyn import FersynError
    from fersyn.cli import with_flags
    from fersyn.data.regime import Regime
    from fersyn.generation.recipe import Recipe
    from fersyn.generation.sets import generate_sets
    from fersyn.sweep.spec import Sweep

    with pytest.raises(FersynError, match="^`seeds` must be at least 1 \\(got 0\\)$"):
        Sweep(seeds=0, ratios="0")
    assert_one_line_error(run("benchmark", "--seeds", "0", "--ratio", "0", "--out", tmp_path / "b"),
                          "Error: --seeds must be at least 1 (got 0)")
    with pytest.raises(FersynError, match="^`ratios`: 'x' is not a number"):
        Sweep(ratios="x")
    assert_one_line_error(run("benchmark", "--ratio", "x", "--out", tmp_path / "b"), "Error: --ratio: 'x' is not a number")
    with pytest.raises(FersynError, match="^`count` must be a positive whole number \\(got 0\\)$"):
        generate_sets(Regime(data="toy"), Recipe(), tmp_path / "s.h5", count=0)
    assert with_flags("`count` must be positive") == "--count must be positive"
    # Only argument names become flags: a command to run stays as written.
    assert with_flags("make one with `fersyn generate`, or pass `allow_unverified_synthetic`; `fold` 2") == \
        "make one with `fersyn generate`, or pass --allow-unverified-synthetic; `fold` 2"


def test_benchmark_options_are_the_sweep_specs_fields_and_no_arguments_give_the_embedded_default(monkeypatch, tmp_path):
    import fersyn.sweep.run
    from fersyn import FersynError

    asked = []

    def stand_in(spec, **run):
        asked.append((spec, run))
        raise FersynError("stopped before training")

    monkeypatch.setattr(fersyn.sweep.run, "run_sweep", stand_in)
    assert "Error: stopped before training" in run("benchmark").output
    spec, where = asked[-1]
    assert (spec.ratios, spec.train_steps, spec.train_fraction, spec.seeds) == ((0.0, 2.0), 400, 0.25, 2)
    assert (spec.image_size, spec.steps) == (32, 600)
    assert spec.controls == ("augment", "real") and where["out"] == "fersyn-benchmark"
    run("benchmark", "--margin", "2", "--split-seed", "5", "--classifier-opt", "width=8", "--out", tmp_path)
    spec, where = asked[-1]
    assert (spec.margin, spec.split_seed, dict(spec.classifier_options)) == (2.0, 5, {"width": "8"})
    assert where["out"] == str(tmp_path) and spec.ratios == (0.0, 1.0, 2.0, 5.0, 10.0)


def test_generate_passes_its_seeds_apart(monkeypatch, tmp_path):
    import fersyn.generation.sets
    from fersyn import FersynError

    asked = []

    def stand_in(regime, recipe, out, **options):
        asked.append((regime, options))
        raise FersynError("stopped before training")

    monkeypatch.setattr(fersyn.generation.sets, "generate_sets", stand_in)
    run("generate", "--split-seed", "3", "--out", tmp_path / "a.h5")
    run("generate", "--split-seed", "3", "--generator-seed", "11", "--out", tmp_path / "b.h5")
    assert [(regime.split_seed, o["generator_seed"]) for regime, o in asked] == [(3, None), (3, 11)]


def test_seed_is_an_alias_of_split_seed():
    assert run("data", "info", "toy", "--seed", "4", "--json").output == run("data", "info", "toy", "--split-seed", "4", "--json").output


def _cli(*args):
    """`fersyn ARGS` in a fresh process, as a user runs it (stderr is the real fd 2)."""
    return subprocess.run([sys.executable, "-m", "fersyn", *map(str, args)], capture_output=True, text=True, timeout=300)


STARTUP_NOISE = ("absl::InitializeLog", "port.cc", "cudart_stub.cc", "cpu_feature_guard.cc", "rebuild TensorFlow")


@pytest.mark.slow
def test_tensorflow_start_up_noise_stays_off_stderr_unless_verbose(tmp_path):
    refused = _cli("generate", "--identity", "nope", "--out", tmp_path / "s.h5")  # TensorFlow started: the plugins loaded
    assert refused.returncode == 1
    assert not [line for line in refused.stderr.splitlines() if any(n in line for n in STARTUP_NOISE)], refused.stderr
    assert [line for line in refused.stderr.splitlines() if line.startswith("Error:")] == [
        "Error: unknown identity plugin 'nope' (known: dcgan, real; see `fersyn plugins`)"]
    verbose = _cli("--verbose", "generate", "--identity", "nope", "--out", tmp_path / "s.h5")
    assert verbose.returncode == 1 and verbose.stderr.splitlines()[-1].startswith("Error: unknown identity plugin")


def test_the_noise_filter_passes_errors_and_drops_info_and_warnings():
    from fersyn.runtime.quiet_stderr import is_noise

    assert is_noise(b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    assert is_noise(b"I0000 00:00:1796030384.485859   27726 port.cc:153] oneDNN custom operations are on.\n")
    assert is_noise(b"W0523 14:03:22.123456 12345 file.cc:12] a warning\n")
    assert is_noise(b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
                    b"appropriate compiler flags.\n", after_noise=True)
    # No GPU on a CPU-only machine: TensorFlow logs it as an error, but training runs on the CPU as meant.
    assert is_noise(b"E0000 00:00:1796030391.196748   27730 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n")
    # Seen when dcgan trains: grappler's remapper gives up on a pattern and leaves the graph unfused.
    assert is_noise(b"E0000 00:00:1796604357.357401   26008 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: "
                    b"Mutation::Apply error: fanout 'StatefulPartitionedCall/gradient_tape/x' exist for missing node\n")
    for kept in (b"E0000 00:00:1796030391.196748   27730 other.cc:52] an error\n",
                 b"F0000 00:00:1.2 1 check.cc:1] Check failed\n", b"Traceback (most recent call last):\n",
                 b"Error: --count must be positive\n", b"WARNING: something of ours\n"):
        assert not is_noise(kept, after_noise=True), kept


def test_the_filter_forwards_every_other_line_in_order_until_the_end():
    import os

    from fersyn.runtime.quiet_stderr import forward

    source_read, source_write = os.pipe()
    target_read, target_write = os.pipe()
    os.write(source_write, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                           b"first\nI0000 00:00:1.5  7 port.cc:153] oneDNN\nE0000 00:00:1.5  7 x.cc:1] bad\nlast, unended")
    os.close(source_write)
    forward(source_read, target_write)
    os.close(target_write)
    with os.fdopen(target_read, "rb") as forwarded:
        assert forwarded.read() == b"first\nE0000 00:00:1.5  7 x.cc:1] bad\nlast, unended"
