"""A sweep's folder on disk: `sweep.json` (the configuration its cells share, and provenance) and
`results.csv` (one flat row per finished or failed cell).

`results.csv` is rewritten whole, through a temporary file and a rename, after every cell: a kill
at any moment leaves either the old table or the new one, never half a row. Rows are matched on
the cell's key, a hash of its whole configuration, never on their position.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fersyn.errors import FersynError
from fersyn.files import atomic_output

if TYPE_CHECKING:
    import pandas as pd

RESULTS = "results.csv"
SWEEP = "sweep.json"
SUMMARY = "summary.json"
# The `training` column: real faces plus k × as many synthetic ones (k = 0: real only), synthetic alone,
# or (the augmentation control) real faces plus k × as many augmented copies of real training faces.
REAL_PLUS_SYNTHETIC = "real+synthetic"
SYNTHETIC_ONLY = "synthetic-only"
REAL_PLUS_AUGMENTED = "real+augmented"


def cell_key(config: dict[str, Any]) -> str:
    """A stable short hash of a cell's configuration (key order does not matter)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_results(directory: str | Path) -> "pd.DataFrame":
    """`results.csv` of a sweep folder as a DataFrame (empty if there is none yet)."""
    import pandas as pd

    path = Path(directory) / RESULTS
    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(path, dtype={"error": str, "test_data": str, "key": str})
    except (ValueError, pd.errors.ParserError) as error:
        raise FersynError(f"{path} cannot be read as a results table ({error}); move it away and rerun") from None


class ResultStore:
    """The rows of one sweep folder, kept in memory and written back atomically after each change."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        for leftover in self.directory.glob(f".{RESULTS}.*.part"):  # a write cut short by a kill
            leftover.unlink()
        frame = read_results(self.directory)
        self.rows: list[dict[str, Any]] = frame.to_dict("records")

    def finished(self, key: str) -> bool:
        return any(row["key"] == key and row["status"] == "ok" for row in self.rows)

    def record(self, row: dict[str, Any]) -> None:
        """Add `row`, replacing an earlier row of the same cell (a failure being retried)."""
        import pandas as pd

        row = {**row, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.rows = [r for r in self.rows if r["key"] != row["key"]] + [row]
        with atomic_output(self.directory / RESULTS) as temporary:
            pd.DataFrame(self.rows).to_csv(temporary, index=False)


def check_sweep_folder(directory: Path, config: dict[str, Any], *, force: bool,
                       option_names: dict[str, str] | None = None) -> None:
    """Make `directory` the home of the sweep `config`: refuse one that holds another configuration's
    results, unless `force`, which moves them aside into `replaced-<time>-<random>/`. A folder of
    real-only cells accepts a synthetic set later (its cells do not depend on one). `option_names`
    says which user option each config key comes from, for the message."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        saved = json.loads((directory / SWEEP).read_text()) if (directory / SWEEP).is_file() else None
    except (OSError, ValueError) as error:
        raise FersynError(f"cannot use {directory} for results ({error})") from None
    if saved is None and not (directory / RESULTS).exists():
        return
    saved = saved.get("config") if isinstance(saved, dict) else None
    saved = saved if isinstance(saved, dict) else {}  # results of unknown origin: never mix with them
    if saved.get("synthetic_fingerprint") is None and "synthetic_fingerprint" in saved:
        saved = {**saved, "synthetic_fingerprint": config.get("synthetic_fingerprint")}
    if saved == config:
        return
    if not force:
        names = option_names or {}
        different = sorted({names.get(k, k) for k in {**config, **saved} if saved.get(k) != config.get(k)})
        raise FersynError(
            f"{directory} holds results of a different sweep (differs in: {', '.join(different)}); "
            "use another --out, or pass --force to move them aside"
        )
    aside = Path(tempfile.mkdtemp(prefix=time.strftime("replaced-%Y%m%d-%H%M%S-"), dir=directory))
    aside.chmod(0o755)  # mkdtemp makes it private; moved results should stay readable
    for item in directory.iterdir():
        if item.name in (RESULTS, SWEEP, SUMMARY) or item.suffix == ".png":
            item.rename(aside / item.name)


def record_sweep(directory: Path, config: dict[str, Any], provenance: dict[str, Any]) -> None:
    """Write `sweep.json`: the configuration the folder's cells share, and how the run was made."""
    with atomic_output(directory / SWEEP) as temporary:
        temporary.write_text(json.dumps({"config": config, "provenance": provenance}, indent=2, default=str))
