import sys
import textwrap

import numpy as np
import pytest

from fersyn.errors import FersynError
from fersyn.plugins.contracts import IdentityGenerator
from fersyn.plugins.registry import (
    broken_plugins,
    create_plugin,
    get_plugin,
    list_plugins,
    load_plugins,
    register_identity,
)

LOOSE_PLUGIN = '''
import numpy as np
from fersyn.plugins.contracts import IdentityGenerator
from fersyn.plugins.registry import register_identity

@register_identity("{name}")
class Flat(IdentityGenerator):
    """Flat gray faces: a plugin made for a test."""
    def fit(self, faces, *, steps=None, seed=0):
        self.level = int(faces.mean())
    def sample(self, n, *, seed):
        return np.full((n, *self.image_shape), self.level, np.uint8)
    def save_state(self, directory):
        pass
    def load_state(self, directory):
        pass
'''


class Constant(IdentityGenerator):
    """Constant faces."""

    def fit(self, faces, *, steps=None, seed=0):
        pass

    def sample(self, n, *, seed):
        return np.zeros((n, *self.image_shape), np.uint8)

    def save_state(self, directory):
        pass

    def load_state(self, directory):
        pass


def test_builtins_come_through_the_entry_points_of_the_fersyn_package():
    load_plugins()
    origins = {p.name: p.origin for p in list_plugins("classifier")}
    assert origins["paper-cnn"] == "built-in" and origins["small-cnn"] == "built-in"
    assert [p.name for p in list_plugins("classifier", "*small*")] == ["small-cnn"]


def test_runtime_registration_and_creation(registry_snapshot):
    register_identity("const-test")(Constant)
    info = get_plugin("identity", "const-test")
    assert info.origin == "runtime" and info.description == "Constant faces."
    generator = create_plugin("identity", "const-test", image_size=16)
    assert generator.sample(2, seed=0).shape == (2, 16, 16, 1)


def test_unknown_name_lists_known_names_and_the_closest():
    load_plugins()
    with pytest.raises(FersynError, match=r"unknown classifier plugin 'smal-cnn'; did you mean 'small-cnn'\? \(known: paper-cnn, small-cnn"):
        get_plugin("classifier", "smal-cnn")


def test_a_name_cannot_be_taken_twice(registry_snapshot):
    register_identity("taken-test")(Constant)

    class Other(Constant):
        pass

    with pytest.raises(FersynError, match="already taken: .*test_registry.py \\(runtime\\) is used"):
        register_identity("taken-test")(Other)


def test_a_duplicate_name_is_listed_with_the_file_that_won_and_warned_about_on_use(tmp_path, registry_snapshot, caplog):
    (tmp_path / "a.py").write_text(LOOSE_PLUGIN.format(name="twice-test"))
    (tmp_path / "b.py").write_text(LOOSE_PLUGIN.format(name="twice-test").replace("class Flat", "class Flat2"))
    load_plugins(tmp_path)
    [broken] = [b for b in broken_plugins() if b.source.endswith("b.py")]
    assert f"'twice-test' is already taken: {tmp_path / 'a.py'}" in broken.error and f"{tmp_path / 'b.py'} is not" in broken.error
    with caplog.at_level("WARNING", logger="fersyn"):
        assert get_plugin("identity", "twice-test").source == str(tmp_path / "a.py")
    assert "registered by more than one plugin: using " + str(tmp_path / "a.py") in caplog.text


def test_the_code_version_changes_when_the_plugin_file_is_edited(tmp_path, registry_snapshot):
    from fersyn.plugins.contracts import code_version
    from fersyn.plugins.registry import describe_plugin

    plugin_file = tmp_path / "flat.py"
    plugin_file.write_text(LOOSE_PLUGIN.format(name="edited-test"))
    load_plugins(tmp_path)
    before = code_version(get_plugin("identity", "edited-test").cls)
    assert describe_plugin("edited-test")["code_version"] == before
    assert code_version(get_plugin("identity", "edited-test").cls) == before  # stable while the file is unchanged
    plugin_file.write_text(LOOSE_PLUGIN.format(name="edited-test").replace("faces.mean()", "faces.mean() + 0"))
    assert code_version(get_plugin("identity", "edited-test").cls) != before


def test_registering_a_class_of_the_wrong_kind_fails():
    with pytest.raises(TypeError, match="must subclass IdentityGenerator"):
        register_identity("wrong-test")(dict)


def test_plugins_dir_loads_loose_files_and_keeps_broken_ones_apart(tmp_path, registry_snapshot):
    (tmp_path / "flat.py").write_text(LOOSE_PLUGIN.format(name="flat-test"))
    (tmp_path / "broken.py").write_text("import no_such_module_anywhere\n")
    load_plugins(tmp_path)
    info = get_plugin("identity", "flat-test")
    assert info.origin == f"plugins dir {tmp_path}"
    generator = info.cls(image_size=8)
    generator.fit(np.full((3, 8, 8, 1), 40, np.uint8))
    assert generator.sample(2, seed=0).max() == 40
    broken = [b for b in broken_plugins() if b.source.endswith("broken.py")]
    assert len(broken) == 1 and "ModuleNotFoundError" in broken[0].error


def test_installed_package_entry_point_registers_a_bare_class(tmp_path, monkeypatch, registry_snapshot):
    """A third-party distribution on sys.path, with an entry point naming one class."""
    (tmp_path / "thirdparty_flat.py").write_text(textwrap.dedent(LOOSE_PLUGIN.replace('@register_identity("{name}")', "")))
    info_dir = tmp_path / "thirdparty_flat-1.0.dist-info"
    info_dir.mkdir()
    (info_dir / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-flat\nVersion: 1.0\n")
    (info_dir / "entry_points.txt").write_text("[fersyn.identity]\nflat-pkg = thirdparty_flat:Flat\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins()
    assert get_plugin("identity", "flat-pkg").origin == "thirdparty-flat"
    sys.modules.pop("thirdparty_flat", None)


def test_missing_plugins_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FersynError, match="plugins directory .* does not exist"):
        load_plugins(tmp_path / "nope")


def test_an_isolated_registry_keeps_the_installed_plugins_and_forgets_what_it_registered():
    from fersyn.plugins.contracts import Classifier
    from fersyn.plugins.registry import current_registry, get_plugin, list_plugins, register_classifier
    from fersyn.testing import isolated_registry

    before = {info.name for info in list_plugins()}
    with isolated_registry() as registry:
        assert current_registry() is registry and {"dcgan", "stargan", "small-cnn"} <= before

        @register_classifier("only-in-the-block")
        class OnlyHere(Classifier):
            """A classifier that exists only inside the block."""

            def build_model(self, input_shape, num_classes):
                raise NotImplementedError

        assert get_plugin("classifier", "only-in-the-block").cls is OnlyHere
        assert {info.name for info in list_plugins()} == before | {"only-in-the-block"}
    assert current_registry() is not registry
    assert {info.name for info in list_plugins()} == before
    with pytest.raises(FersynError, match="unknown classifier plugin 'only-in-the-block'"):
        get_plugin("classifier", "only-in-the-block")
