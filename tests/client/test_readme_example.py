"""The README's trio client example runs as printed, against the chat."""

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import RunningServer

README = (Path(__file__).parents[2] / "README.md").read_text()


def example() -> str:
    section = README.split("## A trio client", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


async def test_the_readme_example_signs_in_sends_and_reads_its_message(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(example(), "README.md", "exec"), namespace)
    await namespace["main"](server.url)
    assert capsys.readouterr().out.splitlines() == [
        "signed in as ada",
        "#general <ada> hello from trio",
    ]
