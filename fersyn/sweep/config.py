"""A sweep's settings as a TOML file: `fersyn benchmark --dump-config > sweep.toml` saves what a sweep runs,
`--config sweep.toml` runs it again (read with the standard library's tomllib; written with tomli-w)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from fersyn.errors import FersynError
from fersyn.sweep.spec import Sweep


def to_toml(sweep: Sweep) -> str:
    """Every setting of `sweep` that is not None (TOML has no null: a setting left out takes its default)."""
    import tomli_w

    return tomli_w.dumps({name: value for name, value in _plain(dataclasses.asdict(sweep)).items() if value is not None})


def read_config(path: str | Path) -> dict[str, Any]:
    """The settings in the TOML file `path`, checked against Sweep's (one line naming the unknown ones)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10 has no tomllib; tomli is the same parser
        import tomli as tomllib

    try:
        settings = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise FersynError(f"cannot read the settings file {path} ({error}); write it with `fersyn benchmark "
                          "--dump-config`") from None
    unknown = sorted(set(settings) - {field.name for field in dataclasses.fields(Sweep)})
    if unknown:
        raise FersynError(f"{path}: unknown setting(s) {', '.join(unknown)}; `fersyn benchmark --dump-config` "
                          "prints the known ones")
    return settings


def _plain(value: Any) -> Any:
    """Tuples as lists, and mappings without their None entries, as TOML holds them."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
