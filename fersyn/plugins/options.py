"""Plugin options: what a plugin's `Options` dataclass declares, and turning the user's
`KEY=VALUE` settings into checked, typed values for it.

A plugin declares each option as a dataclass field with a type, a default and one line of help:

    @dataclasses.dataclass
    class Options:
        steps: int = option(3000, "training steps")
        strength: float = option(1.0, "how strongly apply() edits", apply_time=True)

Supported types: int, float, bool, str (and `X | None`). A setting for an unknown key fails with
the list of valid keys; a value that does not parse as the option's type fails with both.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Sequence

from fersyn.errors import FersynError

_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


_TYPES = (int, float, bool, str)


def option(default: Any, text: str, *, apply_time: bool = False) -> Any:
    """One plugin option in an `Options` dataclass: its default and one line of help text. An
    `apply_time` option only changes how a fitted generator is used (sample/apply), not what it learns:
    a checkpoint or cached generator fitted with another value is reused, with this value."""
    return dataclasses.field(default=default, metadata={"help": text, "apply_time": apply_time})


def fit_options(options: Any) -> dict[str, Any]:
    """The options a fit depends on: all of `options` but those declared apply-time."""
    apply_time = {spec.name for spec in option_specs(type(options)) if spec.apply_time}
    return {key: value for key, value in dataclasses.asdict(options).items() if key not in apply_time}


@dataclass(frozen=True)
class OptionSpec:
    name: str
    type: type
    optional: bool  # accepts None ("none" on the command line)
    default: Any
    help: str
    apply_time: bool = False

    @property
    def type_name(self) -> str:
        return self.type.__name__ + (" or none" if self.optional else "")


def option_specs(options_class: type, plugin: str = "plugin") -> list[OptionSpec]:
    """The options an `Options` dataclass declares, with their types, defaults and help; anything
    else (not a dataclass, a type other than int/float/bool/str, no default) is refused in one line."""
    if not dataclasses.is_dataclass(options_class):
        raise FersynError(f"{plugin}: its Options must be a @dataclasses.dataclass, not {options_class!r}")
    hints = typing.get_type_hints(options_class)
    specs = []
    for field in dataclasses.fields(options_class):
        hint, optional = hints[field.name], False
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            members = [m for m in typing.get_args(hint) if m is not type(None)]
            hint, optional = members[0], len(members) < len(typing.get_args(hint))
        if hint not in _TYPES or field.default is dataclasses.MISSING:
            raise FersynError(f"{plugin}: option {field.name} must be int, float, bool or str (or that | None) with a "
                              f"default, declared as `{field.name}: int = option(1, 'help')`")
        specs.append(OptionSpec(field.name, hint, optional, field.default, field.metadata.get("help", ""),
                                field.metadata.get("apply_time", False)))
    return specs


def parse_pairs(pairs: Sequence[str], flag: str) -> dict[str, str]:
    """['steps=500', 'augment=false'] → {'steps': '500', 'augment': 'false'}; `flag` names the option in errors."""
    settings = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise FersynError(f"{flag} {pair!r}: write KEY=VALUE, e.g. {flag} steps=500")
        settings[key.strip()] = value.strip()
    return settings


def build_options(options_class: type, settings: dict[str, Any], plugin: str) -> Any:
    """An `options_class` instance with `settings` (strings from the command line, or typed values)
    checked against the declared types; `plugin` names the plugin in errors."""
    specs = {spec.name: spec for spec in option_specs(options_class, plugin)}
    unknown = sorted(set(settings) - set(specs))
    if unknown:
        valid = ", ".join(specs) or "none: it takes no options"
        raise FersynError(f"{plugin}: unknown option {', '.join(unknown)} (valid: {valid}; see `fersyn plugins NAME`)")
    return options_class(**{key: _typed(specs[key], value, plugin) for key, value in settings.items()})


def _typed(spec: OptionSpec, value: Any, plugin: str) -> Any:
    wrong = FersynError(f"{plugin}: option {spec.name} takes {spec.type_name}, not {value!r}")
    if not isinstance(value, str):  # a typed value, from Python code
        if value is None and spec.optional:
            return None
        if isinstance(value, bool) != (spec.type is bool):  # True is an int to Python, not to an option
            raise wrong
        if isinstance(value, spec.type) or (spec.type is float and isinstance(value, int)):
            return spec.type(value)
        raise wrong
    text = value.strip()
    if spec.optional and text.lower() == "none":
        return None
    try:
        if spec.type is bool:
            if text.lower() not in _TRUE | _FALSE:
                raise ValueError
            return text.lower() in _TRUE
        return spec.type(text)
    except ValueError:
        raise wrong from None
