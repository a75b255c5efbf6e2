"""``--workers`` as an option: parsed, defaulted, and refused for the chat where it cannot
work, each reason in one line."""

import os

import pytest

from minidiscord.cli import check_workers, settings_from
from minidiscord.config import SettingsError


def test_one_process_by_default_and_auto_is_one_per_core() -> None:
    assert settings_from([], {}).workers == 1
    assert settings_from(["--workers", "auto"], {}).workers == (os.cpu_count() or 1)
    assert settings_from([], {"MINIDISCORD_WORKERS": "3"}).workers == 3


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_a_bad_number_of_workers_is_refused_naming_the_option(value: str) -> None:
    with pytest.raises(SettingsError, match="--workers"):
        settings_from(["--workers", value], {})


def test_the_chat_in_workers_needs_redis_then_the_native_front_end() -> None:
    with pytest.raises(SettingsError, match=r"^--workers 2 needs --redis-url: "):
        check_workers(settings_from(["--workers", "2", "--frontend", "native"], {}))
    hypercorn = settings_from(
        ["--workers", "2", "--redis-url", "redis://127.0.0.1:6399/0", "--frontend", "hypercorn"],
        {},
    )
    with pytest.raises(SettingsError, match=r"^--workers 2 needs --frontend native: "):
        check_workers(hypercorn)
    check_workers(
        settings_from(
            ["--workers", "2", "--redis-url", "redis://127.0.0.1:6399/0", "--frontend", "native"],
            {},
        )
    )
