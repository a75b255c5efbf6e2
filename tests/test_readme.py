"""The README stays true: every option is documented, and the quick start is the Makefile's."""

from pathlib import Path

from minidiscord.config import OPTIONS

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_option_is_in_the_readme() -> None:
    for option in OPTIONS:
        assert f"`{option.flag} " in README, option.flag
        assert f"`{option.env}`" in README, option.env


def test_quick_start_commands() -> None:
    assert "make run" in README
    assert "make test" in README
