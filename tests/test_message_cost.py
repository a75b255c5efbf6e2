"""scripts/message_cost.py: short real runs of both apps (the chat app and the floor, driven
through ASGI in one process); the figures themselves are not judged."""

import pytest

from tests.support.scriptruns import script_record


@pytest.mark.parametrize("app", ["ours", "floor"])
def test_each_app_reports_its_cpu_per_message(app: str) -> None:
    record = script_record(
        "message_cost", "--app", app, "--clients", "3", "--messages", "50", "--rounds", "2"
    )
    assert (record["app"], record["clients"], record["messages"]) == (app, 3, 50)
    assert len(record["us_per_message"]) == 2
    assert record["lowest"] == min(record["us_per_message"]) > 0
