"""The accounts' HTTP API on a real server: registration, login, sessions, bad input."""

import logging

import httpx
import pytest

from minidiscord.limits import Rate
from tests.support.accounts import PASSWORD, api, login, register
from tests.support.servers import ServerFactory
from tests.support.tls import ServerCertificate


async def test_register_answers_a_token_and_sets_an_httponly_lax_cookie(
    start_server: ServerFactory,
) -> None:
    server = await start_server()
    answer = await api(server.url, "register", {"username": "Ada", "password": PASSWORD})
    assert answer.status_code == 201
    body = answer.json()
    assert body["ok"] is True
    assert (body["username"], body["role"]) == ("Ada", "member")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"minidiscord_session={body['token']};")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert answer.headers["cache-control"] == "no-store"
    # Logging in again gives another session.
    again = await login(server.url, "ada")
    assert again != body["token"]


@pytest.mark.parametrize(
    "taken", ["Ada", "ADA", "\uff21\uff24\uff21", "\u0430da", "\u00c1d\u00e1", "ad\u200ba"]
)
async def test_a_name_or_a_look_alike_of_an_account_cannot_be_registered_again(
    start_server: ServerFactory, taken: str
) -> None:
    server = await start_server()
    await register(server.url, "ada")
    answer = await api(server.url, "register", {"username": taken, "password": PASSWORD})
    if answer.status_code == 400:
        # Some look-alikes break the name rules outright (an invisible character).
        assert "invisible" in answer.json()["error"]
        return
    assert answer.status_code == 409, answer.text
    assert "taken" in answer.json()["error"]


async def test_wrong_passwords_and_unknown_names_get_the_same_answer(
    start_server: ServerFactory,
) -> None:
    server = await start_server()
    await register(server.url, "ada")
    wrong = await api(server.url, "login", {"username": "ada", "password": "not it at all"})
    unknown = await api(server.url, "login", {"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"ok": False, "error": "wrong username or password"}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"{not json", "application/json", 400, "not JSON"),
        (b"[1, 2]", "application/json", 400, "JSON object"),
        (b'{"username": 7, "password": "long enough"}', "application/json", 400, "string"),
        (b'{"username": "ada", "password": 12345678}', "application/json", 400, "string"),
        (b'{"username": "ada", "password": "short"}', "application/json", 400, "8 to 1024"),
        (b'{"username": "", "password": "long enough"}', "application/json", 400, "empty"),
        (b'{"username": "System", "password": "long enough"}', "application/json", 400, "reserved"),
        (
            b'{"username": "' + b"a" * 40 + b'", "password": "long enough"}',
            "application/json",
            400,
            "too long",
        ),
        (
            b"username=ada&password=xxxxxxxxxx",
            "application/x-www-form-urlencoded",
            415,
            "application/json",
        ),
        (b'{"username": "' + b"a" * 9000 + b'"}', "application/json", 413, "larger"),
    ],
)
async def test_bad_registrations_are_refused_clearly_and_cost_only_the_sender(
    start_server: ServerFactory, body: bytes, content_type: str, status: int, says: str
) -> None:
    server = await start_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        answer = await http.post(
            "/api/register", content=body, headers={"content-type": content_type}
        )
        assert answer.status_code == status, answer.text
        assert answer.json()["ok"] is False
        assert says in answer.json()["error"]
        assert (await http.get("/healthz")).status_code == 200
    await register(server.url, "bob")


async def test_unknown_routes_wrong_methods_and_foreign_origins_are_refused(
    start_server: ServerFactory,
) -> None:
    server = await start_server()
    assert (await api(server.url, "nothing-here", {})).status_code == 404
    assert (await api(server.url, "login")).status_code == 405  # a GET
    assert (await api(server.url, "sessions", {})).status_code == 405  # a POST
    foreign = await api(
        server.url,
        "login",
        {"username": "ada", "password": PASSWORD},
        headers={"origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    # An allowed origin (the defaults include the React dev server) gets CORS headers.
    allowed = await api(
        server.url,
        "login",
        {"username": "ada", "password": PASSWORD},
        headers={"origin": "http://localhost:5173"},
    )
    assert allowed.status_code == 401
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert allowed.headers["access-control-allow-credentials"] == "true"


async def test_requests_that_need_a_login_say_so(start_server: ServerFactory) -> None:
    server = await start_server()
    for route, body in (("sessions", None), ("logout", {}), ("password", {"new": "x" * 9})):
        answer = await api(server.url, route, body, token="made-up")
        assert answer.status_code == 401, route
        assert answer.json()["error"] == "log in first"


async def test_registration_closed_and_by_invite(start_server: ServerFactory) -> None:
    closed = await start_server(registration="closed")
    answer = await api(closed.url, "register", {"username": "ada", "password": PASSWORD})
    assert answer.status_code == 403
    assert "closed" in answer.json()["error"]

    invited = await start_server(registration="invite")
    answer = await api(invited.url, "register", {"username": "ada", "password": PASSWORD})
    assert answer.status_code == 403
    assert "invite" in answer.json()["error"]
    code, _ = await invited.app.accounts.create_invite("test")  # type: ignore[attr-defined]
    await register(invited.url, "ada", invite=code)
    reused = await api(
        invited.url, "register", {"username": "bob", "password": PASSWORD, "invite": code}
    )
    assert reused.status_code == 403
    assert "unknown, used or expired" in reused.json()["error"]


async def test_wrong_passwords_are_throttled_per_account_then_per_address(
    start_server: ServerFactory,
) -> None:
    # Refills are slow enough never to happen during the test (their timing is tested on
    # MockClock in test_accounts_service).
    server = await start_server(login_rate=Rate(2, 0.001), ip_login_rate=Rate(6, 0.001))
    await register(server.url, "ada")  # attempt 1 from this address
    await register(server.url, "bob")  # 2
    for _ in range(2):  # 3, 4
        wrong = await api(server.url, "login", {"username": "ada", "password": "wrong guess"})
        assert wrong.status_code == 401
    # ada's wrong passwords are used up: even the right one waits, and hashes nothing.
    throttled = await api(server.url, "login", {"username": "ada", "password": PASSWORD})
    assert throttled.status_code == 429
    assert "too many wrong passwords" in throttled.json()["error"]
    assert int(throttled.headers["retry-after"]) > 0
    assert throttled.json()["retryAfter"] > 0
    # bob is not ada: his login works (5, 6)...
    await login(server.url, "bob")
    await login(server.url, "bob")
    # ...until the address's attempts are used up.
    address = await api(server.url, "login", {"username": "bob", "password": PASSWORD})
    assert address.status_code == 429
    assert "from your address" in address.json()["error"]


async def test_registrations_per_address_are_held_to_the_new_user_rate(
    start_server: ServerFactory,
) -> None:
    server = await start_server(ip_new_user_rate=Rate(2, 0.001))
    await register(server.url, "ada")
    await register(server.url, "bob")
    third = await api(server.url, "register", {"username": "eve", "password": PASSWORD})
    assert third.status_code == 429
    assert "too many new accounts from your address" in third.json()["error"]
    # Logging in is not registering.
    await login(server.url, "ada")


async def test_sessions_are_listed_and_revoked_and_a_new_password_ends_the_others(
    start_server: ServerFactory,
) -> None:
    server = await start_server()
    laptop = await register(server.url, "ada")
    phone = await login(server.url, "ada")
    tablet = await login(server.url, "ada")
    listed = (await api(server.url, "sessions", token=laptop)).json()["sessions"]
    assert len(listed) == 3
    assert [s["current"] for s in listed] == [True, False, False]
    assert all(set(s) == {"id", "created", "lastUsed", "agent", "current"} for s in listed)
    assert all("python-httpx" in s["agent"] for s in listed)

    # One session by its id: the tablet's.
    revoked = await api(server.url, "sessions/revoke", {"session": listed[2]["id"]}, token=laptop)
    assert revoked.json() == {"ok": True, "ended": 1}
    gone = await api(server.url, "sessions", token=tablet)
    assert gone.status_code == 401
    assert "revoked by its owner" in gone.json()["error"]

    changed = await api(
        server.url, "password", {"current": PASSWORD, "new": "a new password"}, token=laptop
    )
    assert changed.json() == {"ok": True, "ended": 1}
    after = await api(server.url, "sessions", token=phone)
    assert after.status_code == 401
    assert "the password was changed" in after.json()["error"]
    assert (await api(server.url, "sessions", token=laptop)).status_code == 200
    await login(server.url, "ada", "a new password")
    old = await api(server.url, "login", {"username": "ada", "password": PASSWORD})
    assert old.status_code == 401
    wrong = await api(
        server.url, "password", {"current": "not it", "new": "another one"}, token=laptop
    )
    assert wrong.status_code == 403

    # Log out everywhere: every session, this one too, and the cookie is cleared.
    everywhere = await api(server.url, "sessions/revoke", {"all": True}, token=laptop)
    assert everywhere.json()["ok"] is True
    assert "Max-Age=0" in everywhere.headers["set-cookie"]
    assert (await api(server.url, "sessions", token=laptop)).status_code == 401


async def test_the_cookie_alone_authenticates_and_logout_clears_it(
    start_server: ServerFactory,
) -> None:
    server = await start_server()
    token = await register(server.url, "ada")
    cookie = {"cookie": f"minidiscord_session={token}"}
    assert (await api(server.url, "sessions", headers=cookie)).status_code == 200
    out = await api(server.url, "logout", {}, headers=cookie)
    assert out.status_code == 200
    assert "Max-Age=0" in out.headers["set-cookie"]
    again = await api(server.url, "sessions", headers=cookie)
    assert again.status_code == 401
    assert "logged out" in again.json()["error"]


async def test_no_password_or_token_is_ever_logged(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await start_server()
    secret = "a very secret password"
    token = await register(server.url, "ada", secret)
    await api(server.url, "login", {"username": "ada", "password": "wrong " + secret})
    await api(server.url, "login", {"username": "nobody", "password": secret})
    second = await login(server.url, "ada", secret)
    await api(server.url, "password", {"current": secret, "new": secret + "!"}, token=second)
    await api(server.url, "logout", {}, token=second)
    # The server's log (the test's HTTP client logs the cookies it receives).
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}"
        for record in caplog.records
        if record.name.startswith("minidiscord")
    )
    assert "'ada' logged in" in logged  # the log says who, never with what
    for credential in (secret, token, second):
        assert credential not in logged


async def test_over_tls_the_cookie_is_secure(
    start_server: ServerFactory, certificate: ServerCertificate
) -> None:
    server = await start_server(**certificate.server_options)
    assert server.url.startswith("https://")
    async with httpx.AsyncClient(verify=certificate.client_context(), timeout=10) as http:
        answer = await http.post(
            f"{server.url}/api/register", json={"username": "ada", "password": PASSWORD}
        )
    assert answer.status_code == 201, answer.text
    assert "; Secure" in answer.headers["set-cookie"]
