"""The soak script: its checker finds what it must, and a short real soak passes.

The run's length is SOAK_SECONDS (default 60 in CI, where CI=true, and 15 locally).
"""

import os
import subprocess

import orjson
import pytest

from benchkit.processes import ROOT, script_args
from benchkit.redis import redis_executable
from scripts import soak
from tests.support.requirements import unavailable

GRACE = 2.0


def ledger_with_message(*, received_by_sender: bool = True) -> tuple[soak.Ledger, soak.Epoch]:
    ledger = soak.Ledger(GRACE)
    sender = soak.Epoch(client=0, number=1, ready_at=1.0)
    if received_by_sender:
        ledger.receive(sender, "general", 7)
    ledger.record_ack(soak.Acked("general", 7, issued_at=5.0, acked_at=6.0, sender=0), sender)
    return ledger, sender


def test_a_present_member_that_missed_a_message_is_a_violation() -> None:
    ledger, _ = ledger_with_message()
    member = soak.Epoch(client=1, number=1, ready_at=2.0)
    ledger.close_epoch(member, closed_at=6.0 + GRACE + 0.1)
    assert ledger.violations == {"missing": 1}
    assert ledger.checked == 1


def test_a_member_that_got_it_passes() -> None:
    ledger, sender = ledger_with_message()
    member = soak.Epoch(client=1, number=1, ready_at=2.0)
    ledger.receive(member, "general", 7)
    ledger.close_epoch(member, closed_at=20.0)
    ledger.close_epoch(sender, closed_at=20.0)
    assert not ledger.violations
    assert ledger.checked == 2


@pytest.mark.parametrize(
    ("ready_at", "closed_at"),
    [
        (5.5, 20.0),  # joined after the send was issued
        (2.0, 6.0 + GRACE - 0.1),  # left before the ack plus the grace
        (None, 20.0),  # never got its session
    ],
)
def test_members_not_present_throughout_are_not_judged(
    ready_at: float | None, closed_at: float
) -> None:
    ledger, _ = ledger_with_message()
    member = soak.Epoch(client=1, number=1, ready_at=ready_at)
    ledger.close_epoch(member, closed_at=closed_at)
    assert not ledger.violations
    assert ledger.checked == 0


def test_a_connection_the_server_dropped_is_not_judged_for_delivery() -> None:
    ledger, _ = ledger_with_message()
    member = soak.Epoch(client=1, number=1, ready_at=2.0, lost=True)
    ledger.close_epoch(member, closed_at=20.0)
    assert not ledger.violations


def test_duplicates_and_disorder_are_violations() -> None:
    ledger = soak.Ledger(GRACE)
    epoch = soak.Epoch(client=0, number=1, ready_at=0.0)
    for message_id in (3, 5, 5, 4):
        ledger.receive(epoch, "general", message_id)
    ledger.receive(epoch, "react", 1)  # ids are ordered per channel
    assert ledger.violations == {"duplicate": 1, "out of order": 1}


def test_the_sender_must_have_its_message_before_the_ack() -> None:
    ledger, _ = ledger_with_message(received_by_sender=False)
    assert ledger.violations == {"own message not before ack": 1}


def test_resource_verdict() -> None:
    tolerance = soak.Tolerance(rss_fraction=0.2, rss_kb=1000, fds=5)
    baseline = soak.Sample(at=10, rss_kb=10_000, fds=100, connections=80)
    flat = soak.Sample(at=60, rss_kb=12_900, fds=110, connections=85)
    assert soak.resource_verdict(baseline, flat, 10, soak.Sample(70, 9000, 14, 0), tolerance) == []
    grown = soak.Sample(at=60, rss_kb=13_100, fds=111, connections=85)
    leaked = soak.Sample(at=70, rss_kb=9000, fds=16, connections=0)
    kinds = [kind for kind, _ in soak.resource_verdict(baseline, grown, 10, leaked, tolerance)]
    assert kinds == ["rss growth", "fd growth", "fd leak"]


def soak_seconds() -> float:
    default = "60" if os.environ.get("CI", "").lower() == "true" else "15"
    return float(os.environ.get("SOAK_SECONDS", default))


@pytest.mark.slow
def test_a_short_soak_passes() -> None:
    seconds = soak_seconds()
    command = script_args(
        "soak",
        "--clients",
        "60",
        "--duration",
        str(seconds),
        "--interval",
        "0.5:2",
        "--message-rate",
        "20",
        "--grace",
        "3",
        "--sample-interval",
        "1",
        "--seed",
        "1",
        "--json",
    )
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, timeout=seconds + 180, check=False
    )
    assert done.stdout, done.stderr.decode(errors="replace")[-2000:]
    summary = orjson.loads(done.stdout.splitlines()[-1])
    assert done.returncode == 0, (summary["violations"], summary["violation_examples"])
    assert summary["ok"] is True
    messages = summary["messages"]
    assert messages["sent"] > 0
    assert messages["acked"] == messages["sent"]
    assert messages["checked_deliveries"] > messages["acked"]
    assert messages["deliveries"] >= messages["checked_deliveries"]
    connections = summary["connections"]
    assert connections["restores"] > 0
    assert connections["lost"] == 0
    (resources,) = summary["resources"]
    assert resources["checked"] is True
    assert resources["end"]["connections"] > 0
    assert summary["server_log_errors"] == 0


@pytest.mark.slow
def test_a_short_soak_across_two_nodes_passes() -> None:
    """The same checks with the clients moving between two nodes of one chat on Redis at
    every reconnect: each message once and in order on every connection, whichever node
    it and the sender are on, and sessions restored on the other node."""
    if redis_executable() is None:
        unavailable("the cluster soak", "redis-server is not installed")
    seconds = soak_seconds() / 3
    command = script_args(
        "soak",
        *("--nodes", "2", "--clients", "60", "--duration", str(seconds)),
        *("--interval", "0.5:2", "--message-rate", "20", "--grace", "3"),
        *("--sample-interval", "1", "--seed", "2", "--json"),
    )
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, timeout=seconds + 180, check=False
    )
    assert done.stdout, done.stderr.decode(errors="replace")[-2000:]
    summary = orjson.loads(done.stdout.splitlines()[-1])
    assert done.returncode == 0, (summary["violations"], summary["violation_examples"])
    assert len(summary["urls"]) == 2
    messages = summary["messages"]
    assert messages["sent"] > 0
    assert messages["acked"] == messages["sent"]
    assert messages["checked_deliveries"] > messages["acked"]
    # Every reconnect goes to the other node: each restore crossed nodes.
    assert summary["connections"]["restores"] > 0
    assert [r["checked"] for r in summary["resources"]] == [True, True]
    assert summary["server_log_errors"] == 0
