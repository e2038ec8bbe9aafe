"""Command-line options, derived from the settings that define them (fersyn.settings) where the library has one:
a flag's default, help and check come from the Python field, so `--help` and the API cannot disagree."""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from typing import Any, Callable

import click

from fersyn.settings import meta_of

_ARGUMENT = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def flag_of(field: dataclasses.Field) -> str:
    meta = meta_of(field)
    return (meta.flag if meta and meta.flag else None) or "--" + field.name.replace("_", "-")


def _base_type(annotation: Any) -> Any:
    """int for `int | None`, str for `str | tuple[str, ...]`, the element type for a tuple."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    args = [a for a in typing.get_args(annotation) if a is not type(None)] if union else [annotation]
    first = args[0]
    if typing.get_origin(first) is tuple:
        return typing.get_args(first)[0]
    return first


def _shown(default: Any) -> Any:
    if isinstance(default, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in default) or False
    return default


def field_option(cls: type, name: str, flags: dict[str, str], **overrides: Any) -> Callable:
    """The click option of setting `name` of dataclass `cls`: flag, type, default (shown), choices and help from
    its Meta; backticked setting names in the help become their flags (`flags`: name → flag)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    meta, hints = meta_of(field), typing.get_type_hints(cls)
    kind = _base_type(hints[name])
    help_text = _ARGUMENT.sub(lambda m: flags.get(m[1], m[0]), meta.help) + (f" Unit: {meta.unit}." if meta.unit else "")
    default = field.default if field.default is not dataclasses.MISSING else None
    settings: dict[str, Any] = {"help": help_text, "metavar": meta.metavar}
    if kind is bool and not meta.repeat:
        settings.update(is_flag=True)
    elif meta.repeat:
        settings.update(multiple=True, show_default=_shown(default) if default else False,
                        type=click.Choice(meta.choices) if meta.choices else click.STRING)
    else:
        settings.update(type=click.Choice(meta.choices) if meta.choices else {int: click.INT, float: click.FLOAT}.get(
            kind, click.STRING), default=default, show_default=default is not None)
    settings.update(overrides)
    return click.option(flag_of(field), name, **settings)


def setting_options(cls: type, *, skip: tuple[str, ...] = ()) -> Callable:
    """Every command-line setting of dataclass `cls` (those with Meta.cli), in field order, as options."""
    fields = [f for f in dataclasses.fields(cls) if meta_of(f) and meta_of(f).cli and f.name not in skip]
    flags = {f.name: flag_of(f) for f in dataclasses.fields(cls) if meta_of(f)}

    def decorate(command: Callable) -> Callable:
        for field in reversed(fields):
            command = field_option(cls, field.name, flags)(command)
        return command

    return decorate


def given_settings(ctx: click.Context, cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """The settings of `cls` the user gave on the command line (not left at their default), popped from `options`;
    KEY=VALUE options parsed into mappings."""
    from click.core import ParameterSource

    from fersyn.plugins.options import parse_pairs

    given = {}
    for field in dataclasses.fields(cls):
        if field.name not in options or not (meta_of(field) and meta_of(field).cli):
            continue
        value = options.pop(field.name)
        if ctx.get_parameter_source(field.name) == ParameterSource.DEFAULT:
            continue
        if meta_of(field) and meta_of(field).metavar == "KEY=VALUE":
            value = parse_pairs(value, flag_of(field))
        given[field.name] = value
    return given


strategy_option = click.option(
    "--strategy", type=click.Choice(("default", "mirrored", "multiworker")), default="default", show_default=True,
    help="tf.distribute strategy for training: mirrored = all local GPUs; multiworker = the workers in TF_CONFIG "
         "(see docs/scale.md).")
tensorboard_option = click.option(
    "--tensorboard", type=click.Path(file_okay=False), metavar="DIR",
    help="Write training logs to DIR for TensorBoard (`tensorboard --logdir DIR`): generators' losses at every step "
         "and face grids every 100 steps; with benchmark, each cell's training and validation loss too.")
split_seed_option = click.option("--split-seed", "--seed", "split_seed", default=0, show_default=True, type=int,
                                 help="Seed of the train/val/test split.")
LAYOUT_SETTINGS = ("labels", "annotations", "subject_from", "ck_frames", "faces")


def layout_options(prefix: str = "") -> Callable:
    """The options of a dataset's Layout (fersyn.data.layout): the command gets them as one `layout` argument (with
    `prefix` "test-", as `test_layout`, for --test-data)."""
    of = f" of --{prefix.rstrip('-')}-data" if prefix else ""
    options = [
        click.option(f"--{prefix}labels", metavar="MAP", help=f"Label map{of} for numeric class folders or annotation "
                     "labels: 1=surprise,2=fear,… or a preset: rafdb (1 surprise … 7 neutral), affectnet (0 neutral … "
                     "7 contempt)."),
        click.option(f"--{prefix}annotations", metavar="CSV", help=f"Annotation CSV{of}: columns path,label[,subject]"
                     "[,split], paths relative to the CSV (AffectNet, RAF-DB style); DATA is then the dataset's folder."),
        click.option(f"--{prefix}subject-from", metavar="RULE", help=f"Where each image's subject is{of}: folder:N (the "
                     "N-th folder above the file, 1 = the one holding it), or a regex with one group searched in the "
                     "file name, e.g. '^(S\\d+)_'."),
        click.option(f"--{prefix}ck-frames", metavar="PEAK,NEUTRAL", help=f"Original CK+ distribution{of}: the last "
                     "PEAK frames of each labelled sequence are its emotion, the first NEUTRAL are neutral [default: 3,1]."),
        click.option(f"--{prefix}faces", type=click.Choice(("as-is", "detect")), default="as-is", show_default=True,
                     help=f"as-is: the images{of} are face crops already; detect: find the largest face in each photo, "
                     "level the eyes, crop a square around it (pip install 'fersyn[faces]'); photos with no face are "
                     "skipped and counted."),
    ]
    key = prefix.replace("-", "_")

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def with_layout(*args: Any, **kwargs: Any) -> Any:
            from fersyn.data.layout import Layout

            given = {name: kwargs.pop(key + name) for name in LAYOUT_SETTINGS}
            kwargs[key + "layout"] = Layout(**{k: v for k, v in given.items() if v is not None})
            return command(*args, **kwargs)

        for option in reversed(options):
            with_layout = option(with_layout)
        return with_layout

    return decorate


def command_line(settings: Any) -> str:
    """`fersyn benchmark` with the fewest flags that give `settings` (a Sweep): a setting is left out where the Sweep
    made without it is the same (its default, or what a preset or another setting fills in); `--data` always."""
    from fersyn.errors import FersynError

    given = {field.name: getattr(settings, field.name) for field in dataclasses.fields(settings)}

    def implied(name: str) -> bool:
        try:
            return type(settings)(**{key: value for key, value in given.items() if key != name}) == settings
        except FersynError:
            return False

    words = ["fersyn benchmark"]
    for field in dataclasses.fields(settings):
        meta, value = meta_of(field), given[field.name]
        if not (meta and meta.cli) or value is None or (field.name != "data" and implied(field.name)):
            continue
        if meta.metavar == "KEY=VALUE":
            words += [f"{flag_of(field)} {key}={item}" for key, item in value.items()]
        elif meta.repeat and field.name != "ratios":
            words += [f"{flag_of(field)} {item}" for item in value]
        elif isinstance(value, bool):
            words.append(flag_of(field))
        else:
            words.append(f"{flag_of(field)} {_shown(value)}")
    return " ".join(words)
