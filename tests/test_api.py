"""The public Python API: README's example and docs/python.md's run as written, a sweep's settings round-trip
through TOML, and the generated parts of README and docs/ are what the records give."""

import re
import sys
from pathlib import Path

import pytest
from helpers import run

import fersyn
from fersyn import FersynError, Sweep

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _readme_example() -> str:
    found = re.search(r"<!-- python-example -->\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert found, "README.md lost its Python example"
    return found[1]


@pytest.mark.slow
def test_the_readme_example_and_the_python_doc_run_a_sweep_and_read_its_summary(tmp_path, monkeypatch, capsys,
                                                                                 quick_reference_judge):
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_example(), "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    summary = fersyn.Summary.read(tmp_path / "my-sweep")
    gain = summary.curve("synthetic").at(1).gain
    assert printed == [summary.curve("synthetic").verdict, f"gain at ratio 1: {gain.points:+.1f} points"]
    assert gain.ci95[0] <= gain.value <= gain.ci95[1] and 0 < gain.p_holm <= 1
    for code in BLOCK.findall((ROOT / "docs" / "python.md").read_text()):  # in order, in the same folder
        exec(compile(code, "docs/python.md", "exec"), {})
    after = fersyn.Summary.read(tmp_path / "my-sweep")
    assert set(after.classifier().curves) == {"synthetic", "augmented"}
    assert after.curve("synthetic") == summary.curve("synthetic")  # the new control trained only its own cells


def test_the_public_names_are_importable_and_light():
    for name in fersyn.__all__:
        assert getattr(fersyn, name) is not None, name
    with pytest.raises(AttributeError):
        fersyn.not_a_name  # noqa: B018


def test_a_sweeps_settings_round_trip_through_toml(tmp_path):
    from fersyn.sweep.config import read_config, to_toml

    sweep = Sweep(data="toy", ratios="0,0.5,3", controls=("augment",), classifier_options={"width": 8}, margin=2.5,
                  train_fraction=0.5, identity_options={"steps": 50}, preset="low-data", emotions=("anger", "fear"))
    path = tmp_path / "s.toml"
    path.write_text(to_toml(sweep))
    assert Sweep(**read_config(path)) == sweep
    path.write_text('seeds = 2\nnot_a_setting = 1\n')
    with pytest.raises(FersynError, match="unknown setting\\(s\\) not_a_setting"):
        read_config(path)


def test_dump_config_then_config_runs_the_same_sweep(tmp_path, monkeypatch):
    import fersyn.sweep.run

    asked = []

    def stand_in(sweep, **run_options):
        asked.append(sweep)
        raise FersynError("stopped before training")

    monkeypatch.setattr(fersyn.sweep.run, "run_sweep", stand_in)
    dumped = run("benchmark", "--dump-config")
    assert dumped.exit_code == 0 and not asked  # printed, not run
    (tmp_path / "s.toml").write_text(dumped.stdout)
    run("benchmark", "--config", tmp_path / "s.toml")
    assert asked[-1] == Sweep.embedded_default()
    run("benchmark", "--config", tmp_path / "s.toml", "--seeds", "4")  # an option given beside it wins
    assert asked[-1].seeds == 4 and asked[-1].ratios == Sweep.embedded_default().ratios


def test_benchmark_help_is_generated_from_the_settings():
    import dataclasses

    from fersyn.cli.options import flag_of
    from fersyn.settings import meta_of

    shown = " ".join(run("benchmark", "--help").output.split())
    for field in dataclasses.fields(Sweep):
        meta = meta_of(field)
        if meta.cli:
            assert flag_of(field) in shown, field.name
            assert " ".join(meta.help.split()[:3]).replace("`", "") in shown.replace("`", "").replace("--", ""), field.name


def test_a_setting_is_checked_once_with_the_same_words_in_python_and_on_the_command_line(tmp_path):
    with pytest.raises(FersynError, match="^`margin` must lie between 0 and 100 points \\(got 0\\)$"):
        Sweep(margin=0)
    assert run("benchmark", "--margin", "0", "--out", tmp_path).output.strip() == \
        "Error: --margin must lie between 0 and 100 points (got 0.0)"


def test_the_generated_parts_of_readme_and_docs_are_what_the_records_give():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from write_docs import differing

    assert differing() == [], "run python benchmarks/write_docs.py"


def test_readme_is_short_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 12 * 1024
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert [page for page in pages if f"](docs/{page})" not in readme] == []
    assert "](CHANGES.md)" in readme


def test_every_relative_link_of_readme_and_docs_resolves():
    broken = []
    for page in [ROOT / "README.md", ROOT / "CHANGES.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith("http") and not (page.parent / target).exists():
                broken.append(f"{page.name} → {target}")
    assert broken == []
