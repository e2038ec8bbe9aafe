"""A setting, defined once: a dataclass field that carries its default, unit, check and help.

The Python API reads the default and runs the check; the command line derives its options from the same
fields (fersyn.cli.options), so a setting's flag, default and help cannot drift from the library's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from fersyn.errors import FersynError


@dataclass(frozen=True)
class Meta:
    help: str
    flag: str | None = None  # the command line's spelling; None: --NAME with dashes
    unit: str | None = None  # shown after the help, e.g. "accuracy points"
    check: Callable[[Any], bool] | None = None  # True for a valid value (None always passes: "not given")
    rule: str = ""  # what `check` demands, for the error: "must be at least 1"
    choices: tuple[str, ...] = ()
    repeat: bool = False  # a tuple on the command line given one value per flag
    metavar: str | None = None
    cli: bool = True  # False: the command line sets it another way (a group of options, or none)


def setting(default: Any = dataclasses.MISSING, help: str = "", *, factory: Callable[[], Any] | None = None,
            **meta: Any) -> Any:
    """A dataclass field with its Meta (keyword arguments: Meta's fields)."""
    extra = {"default_factory": factory} if factory is not None else {"default": default}
    return dataclasses.field(**extra, metadata={"fersyn": Meta(help, **meta)})


def meta_of(field: dataclasses.Field) -> Meta | None:
    return field.metadata.get("fersyn")


def check_settings(instance: Any) -> None:
    """Raise FersynError, one line naming the setting, for the first value its Meta's check refuses."""
    for field in dataclasses.fields(instance):
        meta, value = meta_of(field), getattr(instance, field.name)
        if meta is None or value is None:
            continue
        unknown = [v for v in (value if meta.repeat else [value]) if meta.choices and v not in meta.choices]
        if unknown:
            raise FersynError(f"`{field.name}` {unknown[0]}: unknown (known: {', '.join(meta.choices)})")
        if meta.check is not None and not meta.check(value):
            raise FersynError(f"`{field.name}` {meta.rule} (got {value!r})")


POSITIVE = {"check": lambda value: value >= 1, "rule": "must be at least 1"}
