"""Close reasons and reject labels are types whose strings logs, metrics and the layer
above already know: the strings must not change."""

import json

from minidiscord.engine.errors import TransportError
from minidiscord.engine.reasons import CloseReason, RejectLabel
from minidiscord.metrics import Metrics
from minidiscord.protocol import jsoncodec


def test_close_reasons_are_the_words_they_were() -> None:
    assert {reason.value for reason in CloseReason} == {
        "ping timeout",
        "transport close",
        "transport error",
        "parse error",
        "forced close",
        "slow consumer",
        "gave way",
        "flooding",
        "server error",
        "server shutting down",
    }


def test_a_reason_is_its_string_in_logs_and_json() -> None:
    reason = CloseReason.PING_TIMEOUT
    assert reason == "ping timeout"
    assert str(reason) == "ping timeout"
    assert f"{reason}" == "ping timeout"
    assert "%s" % reason == "ping timeout"  # noqa: UP031 - the logging module formats so
    assert json.loads(jsoncodec.dumps({"reason": reason})) == {"reason": "ping timeout"}
    assert json.dumps(reason) == '"ping timeout"'


def test_refused_requests_keep_their_metric_labels() -> None:
    # The label each protocol error was counted under before it was a type.
    for error in TransportError:
        assert error.label == error.name.lower().replace("_", " ")
        assert isinstance(error.label, RejectLabel)


def test_a_label_counts_under_its_string() -> None:
    metrics = Metrics()
    metrics.reject(RejectLabel.GAVE_WAY)
    assert b'reason="gave way"' in metrics.render()
