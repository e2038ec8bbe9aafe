"""One registry for every plugin, built-in or third-party, found the same way.

Registration is a decorator (timm style):

    @register_identity("dcgan")
    class DCGAN(IdentityGenerator): ...

Plugins are found in three places, all through `load_plugins`:
- installed packages' entry points, groups `fersyn.identity`, `fersyn.expression`,
  `fersyn.classifiers`, `fersyn.judges` (fersyn's own built-ins are entry points of the `fersyn` package). An entry
  point may name a module whose classes carry the decorator, or one plugin class, which is then
  registered under the entry point's name;
- loose `*.py` files in a plugins directory (`--plugins-dir` / FERSYN_PLUGINS_DIR);
- code that runs the decorator itself (a notebook, a test): origin "runtime".
A plugin that fails to import does not stop the others: it is kept in `broken_plugins()` with its error.
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import importlib.metadata
import importlib.util
import inspect
import logging
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, TypeVar

from fersyn.errors import FersynError
from fersyn.plugins.contracts import KINDS, Plugin, code_version, plugin_call
from fersyn.plugins.options import build_options, option_specs
from fersyn.runtime.text import closest

ENTRY_POINT_GROUPS = {"identity": "fersyn.identity", "expression": "fersyn.expression", "classifier": "fersyn.classifiers",
                      "judge": "fersyn.judges"}
PLUGINS_DIR_ENV = "FERSYN_PLUGINS_DIR"
BUILT_IN = "built-in"

P = TypeVar("P", bound=type[Plugin])
log = logging.getLogger("fersyn")


@dataclass(frozen=True)
class PluginInfo:
    name: str
    kind: str
    cls: type[Plugin]
    origin: str

    @property
    def description(self) -> str:
        return self.cls.description()

    @property
    def source(self) -> str:
        """The file the plugin class is defined in."""
        return inspect.getsourcefile(self.cls) or self.cls.__module__


@dataclass(frozen=True)
class BrokenPlugin:
    source: str
    origin: str
    error: str


class Registry:
    """The plugins a session knows: registered ones by kind and name, those that failed to load, the sources already
    imported, and names that a second plugin tried to take. `fersyn.testing.isolated_registry()` gives a test (or a
    plugin author's) its own copy, so that nothing it registers outlives it."""

    def __init__(self) -> None:
        self.plugins: dict[str, dict[str, PluginInfo]] = {kind: {} for kind in KINDS}
        self.broken: list[BrokenPlugin] = []
        self.loaded_sources: set[str] = set()
        self.contested: set[tuple[str, str]] = set()  # (kind, name)

    def copy(self) -> "Registry":
        other = Registry()
        other.replace_with(self)
        return other

    def replace_with(self, other: "Registry") -> None:
        """Make this registry hold what `other` holds (copies: later changes to either do not reach the other)."""
        self.plugins = {kind: dict(named) for kind, named in other.plugins.items()}
        self.broken, self.loaded_sources, self.contested = list(other.broken), set(other.loaded_sources), set(other.contested)

    def add(self, kind: str, name: str, cls: type[Plugin], origin: str) -> None:
        existing = self.plugins[kind].get(name)
        if existing is not None and (existing.cls.__module__, existing.cls.__qualname__) != (cls.__module__, cls.__qualname__):
            self.contested.add((kind, name))
            raise FersynError(f"{kind} plugin name '{name}' is already taken: {existing.source} ({existing.origin}) "
                              f"is used, {inspect.getsourcefile(cls) or cls.__module__} is not")
        cls.name = name
        self.plugins[kind][name] = PluginInfo(name, kind, cls, origin)


_session = contextvars.ContextVar("fersyn_registry", default=Registry())
_origin = contextvars.ContextVar("fersyn_plugin_origin", default="runtime")


def current_registry() -> Registry:
    """The registry this session (or the isolated block it is in) registers into and reads from."""
    return _session.get()


@contextlib.contextmanager
def using_registry(registry: Registry) -> Iterator[Registry]:
    """Within the block, `registry` is the current one."""
    token = _session.set(registry)
    try:
        yield registry
    finally:
        _session.reset(token)


def register(kind: str, name: str) -> Callable[[P], P]:
    """Class decorator: register a plugin class of `kind` under `name` (in the current registry)."""
    if kind not in KINDS:
        raise ValueError(f"unknown plugin kind '{kind}'; kinds: {', '.join(KINDS)}")

    def decorate(cls: P) -> P:
        if not (isinstance(cls, type) and issubclass(cls, KINDS[kind])):
            raise TypeError(f"{cls!r} cannot be registered as {kind} '{name}': it must subclass {KINDS[kind].__name__}")
        current_registry().add(kind, name, cls, _origin.get())
        return cls

    return decorate


def register_identity(name: str) -> Callable[[P], P]:
    """Register an IdentityGenerator under `name`."""
    return register("identity", name)


def register_expression(name: str) -> Callable[[P], P]:
    """Register an ExpressionGenerator under `name`."""
    return register("expression", name)


def register_classifier(name: str) -> Callable[[P], P]:
    """Register a Classifier under `name`."""
    return register("classifier", name)


def register_judge(name: str) -> Callable[[P], P]:
    """Register a Judge under `name`."""
    return register("judge", name)


def unregister(kind: str, name: str) -> None:
    """Remove a plugin (tests register one and remove it after)."""
    current_registry().plugins[kind].pop(name, None)


def load_plugins(plugins_dir: str | Path | None = None) -> None:
    """Find and register every plugin: entry points, then `plugins_dir` (or FERSYN_PLUGINS_DIR).

    Safe to call repeatedly: each source is imported once.
    """
    for kind, group in ENTRY_POINT_GROUPS.items():
        for entry_point in importlib.metadata.entry_points(group=group):
            distribution = entry_point.dist.name if entry_point.dist else "unknown package"
            origin = BUILT_IN if distribution == "fersyn" else distribution
            _load_source(f"{group}:{entry_point.name}={entry_point.value}", origin, lambda ep=entry_point, k=kind: _load_entry_point(ep, k))
    directory = plugins_dir or os.environ.get(PLUGINS_DIR_ENV)
    if directory:
        directory = Path(directory)
        if not directory.is_dir():
            raise FersynError(f"plugins directory {directory} does not exist (set by `plugins_dir` or {PLUGINS_DIR_ENV})")
        for file in sorted(directory.glob("*.py")):
            if not file.name.startswith("_"):
                _load_source(str(file.resolve()), f"plugins dir {directory}", lambda f=file: _import_file(f))


def _load_source(source: str, origin: str, load: Callable[[], Any]) -> None:
    registry = current_registry()
    if source in registry.loaded_sources:
        return
    registry.loaded_sources.add(source)
    with _origin_set(origin):
        try:
            load()
        except Exception as error:  # a broken plugin must not take the others down
            last = traceback.extract_tb(error.__traceback__)[-1]
            registry.broken.append(BrokenPlugin(source, origin, f"{type(error).__name__}: {error} ({Path(last.filename).name}:{last.lineno})"))


def _load_entry_point(entry_point: importlib.metadata.EntryPoint, kind: str) -> None:
    loaded = entry_point.load()
    registered = any(info.cls is loaded for info in current_registry().plugins[kind].values())
    if isinstance(loaded, type) and not registered:  # a bare plugin class: register it under the entry point's name
        register(kind, entry_point.name)(loaded)


def _import_file(file: Path) -> None:
    module_name = f"fersyn_plugins_dir.{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise


@contextlib.contextmanager
def _origin_set(origin: str) -> Iterator[None]:
    token = _origin.set(origin)
    try:
        yield
    finally:
        _origin.reset(token)


def list_plugins(kind: str | None = None, pattern: str = "*") -> list[PluginInfo]:
    """Registered plugins (of one kind, or all), whose names match the glob `pattern`, sorted."""
    kinds = [kind] if kind else list(KINDS)
    plugins = current_registry().plugins
    return [info for k in kinds for name, info in sorted(plugins[k].items()) if fnmatch.fnmatch(name, pattern)]


def broken_plugins() -> list[BrokenPlugin]:
    """Plugins that failed to load, with their errors."""
    return list(current_registry().broken)


def get_plugin(kind: str, name: str) -> PluginInfo:
    """The registered plugin `name` of `kind`; an unknown name fails with the known names and the closest."""
    if kind not in KINDS:
        raise FersynError(f"unknown plugin kind '{kind}'; kinds: {', '.join(KINDS)}")
    registry = current_registry()
    if name in registry.plugins[kind]:
        info = registry.plugins[kind][name]
        if (kind, name) in registry.contested:
            log.warning("%s plugin name '%s' is registered by more than one plugin: using %s (%s); "
                        "see `fersyn plugins`", kind, name, info.source, info.origin)
        return info
    _unknown(name, sorted(registry.plugins[kind]), f"{kind} plugin")


def _unknown(name: str, known: list[str], what: str) -> NoReturn:
    hint = closest(name, known)
    suggestion = f"; did you mean '{hint}'?" if hint else ""
    failed = current_registry().broken
    broken = f"; {len(failed)} plugin(s) failed to load" if failed else ""
    raise FersynError(f"unknown {what} '{name}'{suggestion} (known: {', '.join(known) or 'none'}{broken}; "
                      "see `fersyn plugins`)")


def create_plugin(kind: str, name: str, *, image_size: int = 48, channels: int = 1, **options: Any) -> Plugin:
    """A new instance of plugin `name`, with `options` (typed values, or strings from the command
    line) checked against its Options dataclass."""
    cls = get_plugin(kind, name).cls
    settings = build_options(cls.Options, options, f"{kind} plugin '{name}'")
    with plugin_call(cls, "its constructor"):
        return cls(settings, image_size=image_size, channels=channels)


def describe_plugins(kind: str | None = None) -> dict[str, list[dict[str, str]]]:
    """Registered plugins (of one kind, or all) and broken ones, JSON-ready (`fersyn plugins --json`)."""
    return {
        "plugins": [{"name": p.name, "kind": p.kind, "origin": p.origin, "description": p.description} for p in list_plugins(kind)],
        "broken": [{"source": b.source, "origin": b.origin, "error": b.error} for b in broken_plugins()],
    }


def describe_plugin(name: str, kind: str | None = None) -> dict[str, Any]:
    """One plugin, JSON-ready: description, kind, origin, and its options (`fersyn plugins NAME`)."""
    matches = [info for info in list_plugins(kind) if info.name == name]
    if not matches:
        _unknown(name, sorted({info.name for info in list_plugins(kind)}), f"{kind} plugin" if kind else "plugin")
    if len(matches) > 1:
        raise FersynError(f"'{name}' names plugins of several kinds ({', '.join(m.kind for m in matches)}); add `kind`")
    info = matches[0]
    options = [{"name": o.name, "type": o.type_name, "default": o.default,
                "help": o.help + (" (apply-time: not part of the fit)" if o.apply_time else "")}
               for o in option_specs(info.cls.Options, f"{info.kind} plugin '{name}'")]
    return {"name": info.name, "kind": info.kind, "origin": info.origin, "description": info.description,
            "module": info.cls.__module__, "file": info.source, "code_version": code_version(info.cls),
            "options": options}


def format_plugin(plugin: dict[str, Any]) -> str:
    """What `fersyn plugins NAME` prints."""
    lines = [f"{plugin['name']} ({plugin['kind']} plugin, origin: {plugin['origin']}, module {plugin['module']})",
             f"  {plugin['description']}", f"  file {plugin['file']}, code version {plugin['code_version']}", ""]
    if not plugin["options"]:
        return "\n".join(lines + ["options: none"])
    rows = [("OPTION", "TYPE", "DEFAULT", "HELP")] + [(o["name"], o["type"], repr(o["default"]), o["help"]) for o in plugin["options"]]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(lines + ["  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows])


def format_plugins(listing: dict[str, list[dict[str, str]]]) -> str:
    """The table `fersyn plugins` prints."""
    found = listing["plugins"]
    widths = {key: max([len(key)] + [len(p[key]) for p in found]) for key in ("name", "kind", "origin")}
    lines = ["  ".join(key.upper().ljust(widths[key]) for key in widths) + "  DESCRIPTION"]
    lines += ["  ".join(p[key].ljust(widths[key]) for key in widths) + "  " + p["description"] for p in found]
    lines += [f"BROKEN  {b['source']} ({b['origin']}): {b['error']}" for b in listing["broken"]]
    return "\n".join(lines)
