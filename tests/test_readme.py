"""The README stays true: every option is documented, and the quick start is the Makefile's."""

from pathlib import Path

from minidiscord.config import OPTIONS

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def test_every_option_is_in_the_readme() -> None:
    for option in OPTIONS:
        assert f"`{option.flag} " in README, option.flag
        assert f"`{option.env}`" in README, option.env


def test_quick_start_commands() -> None:
    assert "make run" in README
    assert "make test" in README


def test_the_standalone_program_in_the_readme_is_the_example_the_suite_runs() -> None:
    example = (ROOT / "docs" / "examples" / "echo_server.py").read_text()
    assert f"```python\n{example}```" in README
    assert "hypercorn --worker-class trio --bind 127.0.0.1:8000 docs.examples.echo_server:app" in (
        README
    )
    assert "python -m docs.examples.echo_server --port 8000" in README
