"""The client is a peer of the server, not a part of it: it knows only the codecs."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "minidiscord"


def imported(path: Path) -> set[str]:
    """The minidiscord modules ``path`` imports, relative imports resolved against the
    package that holds it (so that an ``__init__``'s own imports resolve too)."""
    package = ["minidiscord", *path.relative_to(PACKAGE).parent.parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            else:
                found.add(node.module or "")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("minidiscord")}


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "client").glob("*.py")), ids=lambda path: path.name
)
def test_the_client_imports_nothing_of_the_server(path: Path) -> None:
    outside = {
        name
        for name in imported(path)
        if not name.startswith(("minidiscord.client", "minidiscord.protocol"))
    }
    assert not outside, f"{path.relative_to(PACKAGE)} imports {sorted(outside)}"
