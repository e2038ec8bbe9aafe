"""A sweep split across machines: `--shard I/N` runs a stable share of the cells, `fersyn report`
merges the shards (apart or in one folder) into the sweep the unsharded run would have made."""

import json

import pandas as pd
import pytest

from fersyn.errors import FersynError
from fersyn.results import Shard

from helpers import assert_one_line_error, run
from test_benchmark import write_synthetic


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("synthetic") / "synth.h5", identities=30)


def sweep(synthetic, out, *more):
    return ["benchmark", "--data", "toy", "--synthetic", synthetic, "--ratio", "0,1", "--seeds", "2",
            "--steps", "8", "--synthetic-only", "--out", out, *more]


def keys(path):
    return sorted(pd.read_csv(path, dtype={"key": str})["key"])


def test_a_sweep_sharded_three_ways_merges_into_the_unsharded_sweeps_cells(tmp_path, synthetic):
    whole = run(*sweep(synthetic, tmp_path / "whole"))
    assert whole.exit_code == 0, whole.output
    # Shards 0 and 1 share a folder (a shared file system); shard 2 ran on a machine of its own.
    homes = {0: tmp_path / "shared", 1: tmp_path / "shared", 2: tmp_path / "machine-2"}
    for index, home in homes.items():
        shard = run(*sweep(synthetic, home, "--shard", f"{index}/3"))
        assert shard.exit_code == 0, shard.output
    tables = [home / f"results.shard-{index}-of-3.csv" for index, home in homes.items()]
    shares = [keys(table) for table in tables if table.exists()]
    assert sum(len(share) for share in shares) == 6 and len(shares) >= 2  # each cell in exactly one shard
    assert sorted(key for share in shares for key in share) == keys(tmp_path / "whole" / "results.csv")

    merged = run("report", tmp_path / "shared", tmp_path / "machine-2", "--out", tmp_path / "merged")
    assert merged.exit_code == 0, merged.output
    assert keys(tmp_path / "merged" / "results.csv") == keys(tmp_path / "whole" / "results.csv")
    summary, reference = (json.loads((tmp_path / folder / "summary.json").read_text()) for folder in ("merged", "whole"))
    counts = [[(entry["ratio"], entry["seeds"]) for entry in s["classifiers"]["small-cnn"]["ratios"]]
              for s in (summary, reference)]
    assert counts[0] == counts[1] == [(0.0, 2), (1.0, 2)]
    assert summary["classifiers"]["small-cnn"]["synthetic_only"]["seeds"] == 2
    assert (tmp_path / "merged" / "accuracy_vs_ratio.png").is_file()
    assert json.loads((tmp_path / "merged" / "sweep.json").read_text())["config"] == \
        json.loads((tmp_path / "whole" / "sweep.json").read_text())["config"]
    # The shared folder's own report reads both of its shards' tables.
    assert run("report", tmp_path / "shared").exit_code == 0
    shared_rows = sum(len(keys(table)) for table in tables[:2] if table.exists())
    shared = json.loads((tmp_path / "shared" / "summary.json").read_text())["classifiers"]["small-cnn"]
    assert sum(e["seeds"] for e in shared["ratios"]) + (shared["synthetic_only"] or {"seeds": 0})["seeds"] == shared_rows

    # A shard of another configuration is refused, naming what differs.
    other = run(*sweep(synthetic, tmp_path / "other", "--shard", "0/3", "--steps", "16"))
    assert other.exit_code == 0, other.output
    assert_one_line_error(run("report", tmp_path / "machine-2", tmp_path / "other", "--out", tmp_path / "bad"),
                          "hold different sweeps (differ in: option_steps)")
    assert not (tmp_path / "bad").exists()


def test_shards_are_stable_and_bad_shards_are_refused(tmp_path, synthetic):
    key = "00000000000000ff"  # 255
    assert [Shard(i, 4).holds(key) for i in range(4)] == [False, False, False, True]
    assert Shard.parse(" 2/5 ") == Shard(2, 5) and Shard(2, 5).results_name == "results.shard-2-of-5.csv"
    for text in ("3/3", "1", "-1/2", "a/b"):
        with pytest.raises(FersynError, match="--shard"):
            Shard.parse(text)
    assert_one_line_error(run(*sweep(synthetic, tmp_path / "x", "--shard", "4/4")), "0 ≤ I < N")
    generated = ["benchmark", "--data", "toy", "--ratio", "0,1", "--shard", "0/2", "--out", tmp_path / "y"]
    assert_one_line_error(run(*generated), "--shard needs --synthetic FILE")
    assert_one_line_error(run("report", tmp_path / "x", tmp_path / "z"), "no results.csv")
