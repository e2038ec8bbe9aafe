"""docs/plugins.md cannot rot: every code block in it runs here, in order, in an empty folder.

A block whose first line is `# file: PATH` is written to PATH; other Python blocks run in one
namespace; each line of a bash block runs as a command: `pip install` into a private folder put on
sys.path (the test environment stays untouched), `fersyn` in this process (a new process would cost
TensorFlow's start-up each time) but as a new process would see it: only the installed plugins
registered, no module of the doc's plugins imported. The plugins the blocks register are removed
after (`registry_snapshot`, tests/conftest.py).
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import as_a_new_process, run

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks():
    return BLOCK.findall(DOC.read_text())


def run_shell(line, site, fresh_registry):
    words = shlex.split(line)
    if words[0] == "fersyn":
        with as_a_new_process(fresh_registry, site):
            result = run(*words[1:])
        assert result.exit_code == 0, f"{line}\n{result.output[-3000:]}"
        return result.output
    if words[:2] == ["pip", "install"]:
        words = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                 "--target", str(site), *words[2:]]
    result = subprocess.run(words, capture_output=True, text=True)
    assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_the_doc_has_every_kind_of_block():
    assert DOC.read_text().count("```") == 2 * len(blocks())  # no fence without a language escapes the run
    languages = [language for language, _ in blocks()]
    assert languages.count("python") >= 4 and languages.count("bash") >= 2 and "toml" in languages


def test_the_keras_applications_example_is_the_shipped_file_word_for_word():
    shipped = DOC.parents[1] / "plugins" / "mobilenet_classifier.py"
    files = {first.removeprefix("# file: ").strip(): rest for _, code in blocks()
             for first, _, rest in [code.partition("\n")] if first.startswith("# file: ")}
    assert files["my_plugins/mobilenet_classifier.py"] == shipped.read_text()  # so the walkthrough's kit run checks it


@pytest.mark.slow
def test_every_code_block_of_the_plugin_walkthrough_runs(tmp_path, monkeypatch, registry_snapshot, quick_reference_judge):
    monkeypatch.chdir(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(site)  # where `pip install` puts a package: its entry points are found there
    namespace, outputs = {"__name__": "docs"}, []
    for language, code in blocks():
        first, _, rest = code.partition("\n")
        if first.startswith("# file: "):
            path = Path(first.removeprefix("# file: ").strip())
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rest)
        elif language == "python":
            exec(compile(code, str(DOC), "exec"), namespace)
        elif language == "bash":
            outputs += [run_shell(line, site, registry_snapshot) for line in code.splitlines() if line.strip()]
        else:
            pytest.fail(f"a {language} block without '# file:' cannot be run")
    text = "\n".join(outputs)
    assert "pca (identity plugin, origin: plugins dir my_plugins" in text and "components" in text
    assert "code version" in text
    assert "wrote 60 faces to synthetic.h5" in text and "bound" in text
    assert re.search(r"^pca\s+identity\s+fersyn-pca\s", text, re.M)  # the installed package, with its origin
    assert re.search(r"^BROKEN .*my_plugins/pca_identity.py .*'pca' is already taken", text, re.M)  # the duplicate
    assert (tmp_path / "sweep" / "results.csv").is_file()
