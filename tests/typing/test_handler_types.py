"""``mypy --strict`` rejects wrong handler shapes and accepts the right ones, on the server
(namespace, socket, server, middlewares, catch-all listeners, server-side events) and on
the client: tests/typing/shapes.py marks each line that must be an error ``# wrong: why``."""

import re
from pathlib import Path

import pytest
from mypy import api

SHAPES = Path(__file__).with_name("shapes.py")
ROOT = Path(__file__).parents[2]
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*)$")


# A cold mypy run over the package: about 8 s here.
@pytest.mark.slow
def test_mypy_rejects_exactly_the_wrong_shapes(tmp_path: Path) -> None:
    out, err, status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-error-summary",
            "--show-error-codes",
            str(SHAPES),
        ]
    )
    assert not err, err
    errors: dict[int, list[str]] = {}
    for line in out.splitlines():
        match = ERROR.match(line)
        if match:
            errors.setdefault(int(match["line"]), []).append(match["message"])
    source = SHAPES.read_text().splitlines()
    wrong = {number for number, text in enumerate(source, 1) if "  # wrong:" in text}
    assert len(wrong) >= 20
    missed = sorted(wrong - errors.keys())
    unexpected = {number: errors[number] for number in sorted(errors.keys() - wrong)}
    assert not missed, [f"{number}: {source[number - 1].strip()}" for number in missed]
    assert not unexpected, unexpected
    assert status == 1
