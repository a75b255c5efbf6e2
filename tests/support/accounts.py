"""Accounts over the real HTTP API: register and log in, as a client would."""

from typing import Any

import httpx

from minidiscord.app import App, ChatApp
from minidiscord.chat.models import Role

PASSWORD = "correct horse battery"


async def api(
    url: str, route: str, body: Any = None, *, token: str | None = None, **options: Any
) -> httpx.Response:
    """POST ``body`` as JSON to ``/api/<route>`` (GET when ``body`` is None)."""
    headers = dict(options.pop("headers", {}))
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        if body is None:
            return await http.get(f"/api/{route}", headers=headers, **options)
        return await http.post(f"/api/{route}", json=body, headers=headers, **options)


async def register(url: str, username: str, password: str = PASSWORD, **fields: Any) -> str:
    """A new account's token (the registration must succeed)."""
    answer = await api(url, "register", {"username": username, "password": password, **fields})
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


async def login(url: str, username: str, password: str = PASSWORD) -> str:
    answer = await api(url, "login", {"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


async def account_with_role(app: App, url: str, username: str, role: Role) -> str:
    """A new account's token, given ``role`` on the server's own store (as `minidiscord admin
    set-role` would)."""
    assert isinstance(app, ChatApp)
    token = await register(url, username)
    account = await app.accounts.owner_of(username)
    assert account is not None
    await app.accounts.store.set_role(account.account_id, role)
    return token
