"""scripts/fanout_cost.py: its parsing and summary, the options it passes each tree's server,
and a short real run of two trees (the figures themselves are not judged)."""

import argparse
from pathlib import Path

import pytest
import trio

from benchkit.processes import ROOT, script_args
from scripts import fanout_cost
from scripts.fanout_cost import Config, Run, Tree
from tests.support.servers import TEST_SETTINGS


def test_a_config_names_front_end_clients_senders_and_rate() -> None:
    config = fanout_cost.parse_config("native:1000x10x2.5")
    assert config == Config("native", 1000, 10, 2.5)
    assert config.deliveries_per_s == 25_000
    assert config.label == "native:1000x10x2.5"
    for bad in ("native", "uvicorn:10x1x1", "native:10x1", "hypercorn:ax1x1"):
        with pytest.raises(argparse.ArgumentTypeError):
            fanout_cost.parse_config(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        fanout_cost.parse_tree("no-name")


def run(tree: str, round_: int, us: float) -> Run:
    return Run(tree, "native:1x1x1", round_, 1.0, us / 1e6, 1, 1, us, us, 50.0, 10.0, 0.0, 1.0, 1)


def test_the_summary_takes_medians_per_tree_against_the_first() -> None:
    runs = [run("a", 0, 10), run("b", 0, 12), run("a", 1, 11), run("b", 1, 30), run("a", 2, 9)]
    runs.append(run("b", 2, 13))
    rows = fanout_cost.summarize(runs, [Tree("a", ROOT), Tree("b", ROOT)])
    assert [(row["tree"], row["runs"]) for row in rows] == [("a", 3), ("b", 3)]
    assert rows[0]["us_per_delivery_median"] == 10
    assert (rows[1]["us_per_delivery_min"], rows[1]["us_per_delivery_max"]) == (12, 30)
    assert rows[1]["us_per_delivery_median"] == 13
    assert rows[1]["vs_first"] == 1.3
    # Round by round: 12/10, 30/11, 13/9.
    assert rows[0]["paired_median"] == 1.0
    assert (rows[1]["paired_median"], rows[1]["paired_min"]) == (1.444, 1.2)
    assert rows[1]["paired_max"] == round(30 / 11, 3)
    table = fanout_cost.format_table(rows)
    assert "| native:1x1x1 | b | 3 | 13.00 (12.00-30.00) |" in table
    assert "| x1.300 | x1.444 (x1.200-x2.727) |" in table


def test_the_paired_median_gets_a_distribution_free_interval_once_rounds_allow_one() -> None:
    # Five values cannot hold the median at 95% (both ends' chance is 2/32 > 5%).
    assert fanout_cost.median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) is None
    assert fanout_cost.median_interval([]) is None
    # Six can: their least and greatest (a 96.9% interval).
    assert fanout_cost.median_interval([6.0, 1.0, 5.0, 2.0, 4.0, 3.0]) == (1.0, 6.0)
    # Ten: the 2nd and 9th; thirty: the 10th and 21st (the binomial table's values).
    assert fanout_cost.median_interval([float(v) for v in range(10)]) == (1.0, 8.0)
    assert fanout_cost.median_interval([float(v) for v in range(30)]) == (9.0, 20.0)
    # A loaded round at either end moves the interval no more than any other value there.
    assert fanout_cost.median_interval([1.0] * 5 + [2.0] * 4 + [50.0]) == (1.0, 2.0)
    rows = fanout_cost.summarize(
        [run(tree, round_, us) for round_ in range(6) for tree, us in (("a", 10), ("b", 11))],
        [Tree("a", ROOT), Tree("b", ROOT)],
    )
    assert rows[1]["paired_median_95"] == [1.1, 1.1]
    assert "| x1.100 (x1.100-x1.100), 95%: x1.100-x1.100 |" in fanout_cost.format_table(rows)


def test_a_round_without_both_trees_is_left_out_of_the_paired_ratios() -> None:
    runs = [run("a", 0, 10), run("b", 0, 15), run("b", 1, 40)]
    assert fanout_cost.paired_ratios(runs, "native:1x1x1", "a", "b") == [1.5]


def test_recovery_and_presence_grace_are_turned_off_only_where_the_tree_has_them(
    tmp_path: Path,
) -> None:
    here = fanout_cost.server_command(Tree("head", ROOT), 1234, "native", ())
    assert here[-4:] == ["--recovery-window", "0", "--presence-grace", "0"]
    assert here[here.index("--frontend") :][:2] == ["--frontend", "native"]
    # An older tree: a server whose --help knows neither option.
    package = tmp_path / "minidiscord"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text("print('usage: [--port PORT] [--store KIND]')\n")
    older = fanout_cost.server_command(Tree("base", tmp_path), 1234, "native", ())
    assert "--recovery-window" not in older
    assert "--presence-grace" not in older


@pytest.mark.slow
async def test_a_short_run_alternates_the_trees_and_counts_cpu_per_delivery() -> None:
    trees = [Tree("a", ROOT), Tree("b", ROOT)]
    # The suite's front end (MINIDISCORD_FRONTEND), served by subprocesses of this tree.
    config = Config(TEST_SETTINGS.frontend, 4, 2, 10)
    runs = await trio.to_thread.run_sync(
        lambda: fanout_cost.bench(trees, [config], runs=2, duration=1)
    )
    # Reversed in odd rounds: neither tree always runs first.
    assert [(r.tree, r.round) for r in runs] == [("a", 0), ("b", 0), ("b", 1), ("a", 1)]
    for measured in runs:
        assert measured.delivered == measured.sent * 4 > 0
        assert measured.delivery_ratio == 1.0
        # Counted in clock ticks (10 ms): a second of light load may read as none.
        assert measured.server_cpu_s >= 0
        assert measured.us_per_delivery == pytest.approx(
            1e6 * measured.server_cpu_s / measured.delivered, rel=1e-3
        )
        # The rounds of direct writes (both front ends over plain TCP), from /metrics: at
        # most a write per client each.
        assert measured.rounds_per_s is not None
        assert measured.rounds_per_s > 0
        assert measured.writes_per_round is not None
        assert 1 <= measured.writes_per_round <= 4


def test_round_figures_come_from_the_servers_counters() -> None:
    result = {
        "server_rounds": 50,
        "server_round_writes": 5000,
        "delivered": 20_000,
        "window": [10.0, 15.0],
    }
    assert fanout_cost.round_figures(result) == {
        "rounds_per_s": 10.0,
        "deliveries_per_round": 400.0,
        "writes_per_round": 100.0,
    }
    # A server without the counters (the floors), or one that wrote no round.
    assert fanout_cost.round_figures({"server_rounds": None}) == {}
    assert fanout_cost.round_figures({"server_rounds": 0}) == {}


def test_a_floor_tree_runs_that_trees_floor_app_on_the_configurations_front_end() -> None:
    floor = fanout_cost.parse_tree("floor=floor:.")
    assert floor == Tree("floor", Path(".").resolve(), floor=True)
    assert fanout_cost.parse_tree("head=.").floor is False
    with pytest.raises(argparse.ArgumentTypeError):
        fanout_cost.parse_tree("floor=floor:")
    prefix = ["nice", "-n", "-5"]
    hyper = fanout_cost.server_command(floor, 1234, "hypercorn", prefix)
    assert hyper[:3] == prefix
    assert hyper[3:] == [*script_args("floor_hypercorn", "--port", "1234", "--tuned-gc")]
    native = fanout_cost.server_command(floor, 1234, "native", ())
    assert native[-1] == "--native"
    # The chat server's options are not the floor's.
    assert "--store" not in hyper + native


@pytest.mark.slow
async def test_a_short_run_measures_the_floor_beside_our_server() -> None:
    trees = [Tree("floor", ROOT, floor=True), Tree("ours", ROOT)]
    config = Config(TEST_SETTINGS.frontend, 4, 2, 10)
    runs = await trio.to_thread.run_sync(
        lambda: fanout_cost.bench(trees, [config], runs=1, duration=1)
    )
    assert [run.tree for run in runs] == ["floor", "ours"]
    for measured in runs:
        assert measured.delivered == measured.sent * 4 > 0
        assert measured.delivery_ratio == 1.0
