"""A sweep's folder on disk: `sweep.json` (the configuration its cells share, and provenance) and
`results.csv` (one flat row per finished or failed cell).

A sweep split across machines (`--shard I/N`) runs the cells whose key falls in shard I, and writes
them to `results.shard-I-of-N.csv` instead, so shards sharing a folder never write the same file;
`read_results` reads every results file of a folder, and `merge_sweeps` several folders of one sweep.

`results.csv` is rewritten whole, through a temporary file and a rename, after every cell: a kill
at any moment leaves either the old table or the new one, never half a row. Rows are matched on
the cell's key, a hash of its whole configuration, never on their position.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fersyn.errors import FersynError
from fersyn.runtime.files import atomic_output
from fersyn.sweep.row import Row, Scores, described

if TYPE_CHECKING:
    import pandas as pd

RESULTS = "results.csv"
_SHARD_RESULTS = re.compile(r"results\.shard-(\d+)-of-(\d+)\.csv")
SWEEP = "sweep.json"
SUMMARY = "summary.json"
# Version of the layout of a sweep folder. 2: folds, predictions on every test face (the bootstrap
# needs them), the test faces' subjects in sweep.json, the training kinds of fersyn.sweep.spec.
SCHEMA = 2
# What a results row holds besides its cell's configuration: the schema of fersyn.sweep.row (Row, Scores), and what
# the store and the sweep's names add.
ROW_COLUMNS = {**{name: help for name, help in described(Row, Scores).items() if name not in ("precision", "generator_fit")},
               "allow_unverified_synthetic": "whether a set without content hashes was allowed", "finished": "when"}
# Of a failed cell's row only these are known (the scores are not); every row also holds its cell's
# fields (fersyn.sweep.spec.Cell) and the sweep's configuration.
FAILED_ROW_COLUMNS = ("key", "classifier", "classifier_plugin", "synthetic_check", "allow_unverified_synthetic",
                      "status", "error", "finished")
CELL_COLUMNS = ("classifier", "training", "ratio", "seed", "fold")
# Columns of rows written now that tables of an earlier fersyn (same schema) lack: required to write, not to read.
ADDED_ROW_COLUMNS = {"generator_fit": described(Row)["generator_fit"]}


def missing_columns(row: dict[str, Any] | "pd.DataFrame") -> list[str]:
    """The columns of ROW_COLUMNS (FAILED_ROW_COLUMNS for a failed cell) and CELL_COLUMNS a row lacks, and of a row
    being written ADDED_ROW_COLUMNS: what `benchmark` checks before writing a row and `report` before reading a table."""
    table = hasattr(row, "columns")
    columns = set(row.columns) if table else set(row)
    failed = not table and row.get("status") != "ok"
    wanted = (FAILED_ROW_COLUMNS if failed else tuple(ROW_COLUMNS)) + CELL_COLUMNS
    wanted += () if table else tuple(ADDED_ROW_COLUMNS)
    return [column for column in wanted if column not in columns]


def cell_key(config: dict[str, Any]) -> str:
    """A stable short hash of a cell's configuration (key order does not matter)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Shard:
    """Shard `index` (0-based) of `count`: with the sweep's cell keys sorted, every `count`-th cell from
    position `index`. Every machine sorts the same keys, so N machines split one sweep without a
    coordinator, and each shard gets ⌊cells/N⌋ or ⌈cells/N⌉ cells."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
        if not match or not 0 <= int(match[1]) < int(match[2]):
            raise FersynError(f"`shard` {text}: expected I/N with 0 ≤ I < N, e.g. 0/4 "
                              "(with SLURM: `shard` $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT and sbatch --array=0-N)")
        return cls(int(match[1]), int(match[2]))

    def select(self, keys: list[str]) -> set[str]:
        """The keys, out of all the sweep's `keys`, that this shard runs."""
        return set(sorted(set(keys))[self.index::self.count])

    @property
    def results_name(self) -> str:
        return f"results.shard-{self.index}-of-{self.count}.csv"


def results_files(directory: str | Path) -> list[Path]:
    """The results tables of a sweep folder: results.csv and any shard's, in a fixed order."""
    directory = Path(directory)
    shards = sorted((p for p in directory.glob("results.shard-*.csv") if _SHARD_RESULTS.fullmatch(p.name)),
                    key=lambda p: tuple(int(n) for n in _SHARD_RESULTS.fullmatch(p.name).groups()[::-1]))
    return [p for p in [directory / RESULTS] if p.is_file()] + shards


def read_results(directory: str | Path) -> "pd.DataFrame":
    """Every results table of a sweep folder as one DataFrame (empty if there is none yet)."""
    import pandas as pd

    frames = [read_table(path) for path in results_files(directory)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_table(path: Path) -> "pd.DataFrame":
    """One results table (empty if it does not exist yet)."""
    import pandas as pd

    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(path, dtype={"error": str, "test_data": str, "key": str, "test_predictions": str,
                                        "cross_predictions": str, "synthetic_check": str})
    except (ValueError, pd.errors.ParserError) as error:
        raise FersynError(f"{path} cannot be read as a results table ({error}); move it away and rerun") from None


def differing_keys(config: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two sweep configurations (a key one lacks counts)."""
    return sorted(key for key in {**config, **other} if config.get(key) != other.get(key))


def merge_sweeps(directories: list[Path]) -> tuple["pd.DataFrame", dict[str, Any]]:
    """The rows of several folders of one sweep (shards run apart) and their shared `sweep.json`;
    folders of different configurations are refused, naming what differs."""
    import pandas as pd

    first, first_sweep = directories[0], read_sweep(directories[0])
    for other in directories[1:]:
        config, first_config = read_sweep(other).get("config", {}), first_sweep.get("config", {})
        different = differing_keys(config, first_config)
        if different:
            raise FersynError(f"{other} and {first} hold different sweeps (differ in: {', '.join(different)}); "
                              "only shards of one sweep can be merged")
    frames = [read_results(directory) for directory in directories]
    return pd.concat(frames, ignore_index=True), first_sweep


def read_sweep(directory: Path) -> dict[str, Any]:
    """`sweep.json` of a folder ({} if there is none)."""
    path = Path(directory) / SWEEP
    if not path.is_file():
        return {}
    try:
        sweep = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FersynError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(sweep, dict):
        raise FersynError(f"{path}: expected a JSON object")
    return sweep


def check_schema(directory: Path) -> None:
    """Refuse, in one line, a folder written by an older fersyn (its rows lack what the statistics need)."""
    schema = read_sweep(directory).get("config", {}).get("schema")
    if results_files(directory) and schema != SCHEMA:
        raise FersynError(f"{directory} holds results of an older fersyn (results schema {schema or 1}, this version "
                          f"reads {SCHEMA}: they lack per-face predictions); rerun the sweep into a new folder, or with `force` "
                          "(it moves them aside)")


class ResultStore:
    """The rows of one results table (a folder's, or a shard's), kept in memory and written back
    atomically after each change."""

    def __init__(self, directory: str | Path, name: str = RESULTS, *, write: bool = True) -> None:
        self.directory, self.path, self.write = Path(directory), Path(directory) / name, write
        for leftover in self.directory.glob(f".{name}.*.part") if write else ():  # a write cut short by a kill
            leftover.unlink()
        frame = read_table(self.path)
        self.rows: list[dict[str, Any]] = frame.to_dict("records")

    def finished(self, key: str) -> bool:
        return any(row["key"] == key and row["status"] == "ok" for row in self.rows)

    def record(self, finished: Row) -> None:
        """Add the row of a finished (or failed) cell, replacing an earlier row of the same cell (a failure being
        retried)."""
        row = {**finished.columns(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        missing = missing_columns(row)
        if missing:  # a programming error, not a user's: the row schema is ROW_COLUMNS
            raise ValueError(f"a results row lacks {', '.join(missing)}")
        self.rows = [r for r in self.rows if r["key"] != row["key"]] + [row]
        self._save()

    def drop_superseded(self, keys: dict[Any, str]) -> int:
        """Drop the rows of the cells in `keys` (a Cell → its key now) that hold another key: results of
        an earlier version of a plugin's code, whose cells run again. Returns how many were dropped."""
        now = {tuple(_plain(getattr(cell, column)) for column in CELL_COLUMNS): key for cell, key in keys.items()}
        kept = [row for row in self.rows if now.get(tuple(_plain(row.get(c)) for c in CELL_COLUMNS), row["key"]) == row["key"]]
        dropped, self.rows = len(self.rows) - len(kept), kept
        if dropped:
            self._save()
        return dropped

    def _save(self) -> None:
        import pandas as pd

        if not self.write:  # a worker that is not the chief of a multi-worker run
            return
        with atomic_output(self.path) as temporary:
            pd.DataFrame(self.rows).to_csv(temporary, index=False)


def _plain(value: Any) -> Any:
    """A cell column's value as Python compares it, whether read from a CSV (NaN, numpy numbers) or not."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def check_sweep_folder(directory: Path, config: dict[str, Any], *, force: bool,
                       argument_names: dict[str, str] | None = None) -> None:
    """Make `directory` the home of the sweep `config`: refuse one that holds another configuration's
    results, unless `force`, which moves them aside into `replaced-<time>-<random>/`. A folder of cells
    without synthetic faces accepts a synthetic set later, and a run without one a folder with one:
    `config` then takes the folder's set (updated in place). `argument_names` says which argument each
    config key comes from, for the message."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        saved = json.loads((directory / SWEEP).read_text()) if (directory / SWEEP).is_file() else None
    except (OSError, ValueError) as error:
        raise FersynError(f"cannot use {directory} for results ({error})") from None
    if saved is None and not results_files(directory):
        return
    saved = saved.get("config") if isinstance(saved, dict) else None
    saved = saved if isinstance(saved, dict) else {}  # results of unknown origin: never mix with them
    # Cells without synthetic faces do not depend on the set, nor on how many generator fits made it: real-only
    # or controls-only runs and a run with a set may share a folder (its set stays the one recorded).
    if saved.get("synthetic_fingerprint") is None or config.get("synthetic_fingerprint") is None:
        with_set = config if config.get("synthetic_fingerprint") is not None else saved
        shared = {key: with_set[key] for key in ("synthetic_fingerprint", "generator_fits") if key in with_set}
        config.pop("generator_fits", None)
        config.update(shared)
        saved = {**{k: v for k, v in saved.items() if k != "generator_fits"}, "synthetic_fingerprint": None, **shared}
    if saved == config:
        return
    if not force and saved.get("schema") != config.get("schema"):
        check_schema(directory)
    if not force:
        names = argument_names or {}
        different = sorted({names.get(k, k) for k in differing_keys(config, saved)})
        raise FersynError(
            f"{directory} holds results of a different sweep (differs in: {', '.join(different)}); "
            "use another `out`, or pass `force` to move them aside"
        )
    aside = Path(tempfile.mkdtemp(prefix=time.strftime("replaced-%Y%m%d-%H%M%S-"), dir=directory))
    aside.chmod(0o755)  # mkdtemp makes it private; moved results should stay readable
    for item in directory.iterdir():
        if item.name in (RESULTS, SWEEP, SUMMARY) or _SHARD_RESULTS.fullmatch(item.name) or item.suffix == ".png":
            item.rename(aside / item.name)


def record_sweep(directory: Path, config: dict[str, Any], provenance: dict[str, Any],
                 test_faces: dict[str, Any] | None = None) -> None:
    """Write `sweep.json`: the configuration the folder's cells share, how the run was made, and the
    test faces (subject and label of each, per fold) that the rows' predictions refer to."""
    with atomic_output(directory / SWEEP) as temporary:
        temporary.write_text(json.dumps({"config": config, "provenance": provenance, "test_faces": test_faces},
                                        indent=2, default=str))
