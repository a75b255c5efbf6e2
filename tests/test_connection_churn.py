"""scripts/connection_churn.py: a short real run (a real server, real churning and asking
clients in their own processes); the figures themselves are not judged."""

from tests.support.scriptruns import script_record


def test_a_tls_churn_run_reports_both_phases_and_the_refusals() -> None:
    # A rate of 2 then 1/s: nearly every connection the churner opens is refused, and over
    # TLS it sees each refusal as a failed handshake.
    record = script_record(
        "connection_churn", "--frontend", "native", "--tls", "--rate", "2:1", "-d", "1.5"
    )
    assert (record["frontend"], record["tls"], record["rate"]) == ("native", True, "2:1")
    churner = record["churn"]["churner"]
    assert churner["tls_refused"] > 0
    assert churner["connections"] > churner["tls_refused"]
    for phase in ("quiet", "churn"):
        assert record[phase]["bystander"]["requests"] > 0
        assert record[phase]["server_cpu_s"] >= 0
    assert "churner" not in record["quiet"]
    assert record["server_us_per_connection"] > 0
