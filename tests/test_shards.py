"""A sweep split across machines: `--shard I/N` runs a stable share of the cells, `fersyn report`
merges the shards (apart or in one folder) into the sweep the unsharded run would have made."""

import json
import shutil

import pandas as pd
import pytest
from helpers import assert_one_line_error, run
from test_benchmark import write_synthetic

from fersyn.errors import FersynError
from fersyn.sweep.store import Shard, read_results


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("synthetic") / "synth.h5", identities=30)


ARMS = [("real only", 0.0), ("synthetic", 1.0), ("synthetic only", None)]
TRAINING = {"real only": "real-only", "synthetic": "real+synthetic", "synthetic only": "synthetic-only"}


def sweep(synthetic, out, *more):
    return ["benchmark", "--data", "toy", "--synthetic", synthetic, "--ratio", "0,1", "--seeds", "1",
            "--steps", "8", "--synthetic-only", "--out", out, *more]


def keys(path):
    return sorted(pd.read_csv(path, dtype={"key": str})["key"])


@pytest.mark.slow
def test_a_sweep_sharded_three_ways_merges_into_the_unsharded_sweeps_cells(tmp_path, synthetic):
    whole = run(*sweep(synthetic, tmp_path / "whole"))
    assert whole.exit_code == 0, whole.output
    # Shards 0 and 1 share a folder (a shared file system); shard 2 ran on a machine of its own.
    homes = {0: tmp_path / "shared", 1: tmp_path / "shared", 2: tmp_path / "machine-2"}
    for index, home in homes.items():
        shard = run(*sweep(synthetic, home, "--shard", f"{index}/3"))
        assert shard.exit_code == 0, shard.output
    tables = [home / f"results.shard-{index}-of-3.csv" for index, home in homes.items()]
    shares = [keys(table) for table in tables]
    assert [len(share) for share in shares] == [1, 1, 1]  # each cell in exactly one shard, shares balanced
    assert sorted(key for share in shares for key in share) == keys(tmp_path / "whole" / "results.csv")

    merged = run("report", tmp_path / "shared", tmp_path / "machine-2", "--out", tmp_path / "merged")
    assert merged.exit_code == 0, merged.output
    assert keys(tmp_path / "merged" / "results.csv") == keys(tmp_path / "whole" / "results.csv")
    summary, reference = (json.loads((tmp_path / folder / "summary.json").read_text()) for folder in ("merged", "whole"))
    merged_rows = read_results(tmp_path / "merged")
    for result in (summary, reference):
        cnn = result["classifiers"]["small-cnn"]
        assert cnn["seeds"] == [0] and cnn["incomplete_arms"] == []
        assert [(arm["curve"], arm["ratio"]) for arm in cnn["analysis"]["arms"]] == ARMS
    for arm in summary["classifiers"]["small-cnn"]["analysis"]["arms"]:  # every merged row counted
        chosen = merged_rows[merged_rows["training"] == TRAINING[arm["curve"]]]
        assert len(chosen) == 1 and arm["value"] == pytest.approx(chosen["accuracy"].mean())
    assert (tmp_path / "merged" / "accuracy_vs_ratio.png").is_file()
    assert json.loads((tmp_path / "merged" / "sweep.json").read_text())["config"] == \
        json.loads((tmp_path / "whole" / "sweep.json").read_text())["config"]
    # The shared folder's own report reads both of its shards' tables: it is the report of their rows as one table.
    assert run("report", tmp_path / "shared").exit_code == 0
    shared_rows = read_results(tmp_path / "shared")
    assert sorted(shared_rows["key"]) == sorted(key for table in tables[:2] for key in keys(table))
    as_one = tmp_path / "shared-as-one-table"
    as_one.mkdir()
    shutil.copy(tmp_path / "shared" / "sweep.json", as_one / "sweep.json")
    shared_rows.to_csv(as_one / "results.csv", index=False)
    assert run("report", as_one).exit_code == 0
    shared, one = (json.loads((folder / "summary.json").read_text())["classifiers"]["small-cnn"]
                   for folder in (tmp_path / "shared", as_one))
    assert shared == one
    reported = set(shared["incomplete_arms"]) | {
        arm["curve"] if arm["ratio"] in (None, 0.0) else f"{arm['curve']} {arm['ratio']:g}"
        for arm in (shared["analysis"] or {"arms": []})["arms"]}
    named = {"real-only": "real only", "real+synthetic": "synthetic 1", "synthetic-only": "synthetic only"}
    assert reported == {named[training] for training in shared_rows["training"]}  # no row of either table ignored

    # A shard of another configuration is refused, naming what differs: machine 2's, as if run with --steps 16.
    shutil.copytree(tmp_path / "machine-2", tmp_path / "other")
    recorded = json.loads((tmp_path / "other" / "sweep.json").read_text())
    recorded["config"]["option_steps"] = 16
    (tmp_path / "other" / "sweep.json").write_text(json.dumps(recorded))
    assert_one_line_error(run("report", tmp_path / "machine-2", tmp_path / "other", "--out", tmp_path / "bad"),
                          "hold different sweeps (differ in: option_steps)")
    assert not (tmp_path / "bad").exists()


def test_shards_are_stable_and_bad_shards_are_refused(tmp_path, synthetic):
    keys = [f"{n:016x}" for n in (9, 3, 7, 1, 5, 3)]  # one key twice: a cell is counted once
    shares = [sorted(Shard(i, 4).select(keys)) for i in range(4)]
    assert shares == [[f"{1:016x}", f"{9:016x}"], [f"{3:016x}"], [f"{5:016x}"], [f"{7:016x}"]]
    assert Shard.parse(" 2/5 ") == Shard(2, 5) and Shard(2, 5).results_name == "results.shard-2-of-5.csv"
    for text in ("3/3", "1", "-1/2", "a/b"):
        with pytest.raises(FersynError, match="`shard`"):
            Shard.parse(text)
    assert_one_line_error(run(*sweep(synthetic, tmp_path / "x", "--shard", "4/4")), "0 ≤ I < N")
    generated = ["benchmark", "--data", "toy", "--ratio", "0,1", "--shard", "0/2", "--out", tmp_path / "y"]
    assert_one_line_error(run(*generated), "--shard needs --synthetic FILE")
    assert_one_line_error(run("report", tmp_path / "x", tmp_path / "z"), "no results.csv")
