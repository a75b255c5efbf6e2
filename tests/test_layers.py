"""The seams between layers hold: each module imports only what its layer may know."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "minidiscord"


def _imports(path: Path) -> set[str]:
    """Absolute names of the minidiscord modules ``path`` imports (relative ones resolved)."""
    module_parts = ["minidiscord", *path.relative_to(PACKAGE).with_suffix("").parts]
    if module_parts[-1] == "__init__":
        module_parts.pop()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts[: len(module_parts) - node.level]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("minidiscord")}


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).glob("*.py"))


# A SocketServer owns its engine: sockets/asgi.py makes it (and the ASGI app serving it)
# from the engine package's public API. Every other module of the layer drives a client through the
# EngineConnection protocol and knows the engine only by its close reasons.
ENGINE_OWNER = "asgi.py"


@pytest.mark.parametrize(
    "path", [p for p in _modules("sockets") if p.name != ENGINE_OWNER], ids=lambda p: p.name
)
def test_the_socketio_layer_knows_the_engine_only_by_its_reasons(path: Path) -> None:
    engine = {name for name in _imports(path) if name.startswith("minidiscord.engine")}
    assert engine <= {"minidiscord.engine.reasons"}, engine


def test_only_the_engine_owner_makes_an_engine_and_through_its_public_api() -> None:
    engine = {
        name
        for name in _imports(PACKAGE / "sockets" / ENGINE_OWNER)
        if name.startswith("minidiscord.engine")
    }
    assert engine == {"minidiscord.engine"}, engine


@pytest.mark.parametrize("path", [*_modules("sockets"), *_modules("engine")], ids=lambda p: p.name)
def test_the_socketio_layer_and_the_engine_know_nothing_of_what_is_built_on_them(
    path: Path,
) -> None:
    above = ("minidiscord.chat", "minidiscord.web", "minidiscord.app", "minidiscord.frontend")
    assert not {name for name in _imports(path) if name.startswith(above)}


@pytest.mark.parametrize(
    "path", [*_modules("frontend"), *_modules("web")], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_front_ends_and_web_routes_do_not_import_the_engine(path: Path) -> None:
    assert not {name for name in _imports(path) if name.startswith("minidiscord.engine")}


@pytest.mark.parametrize("name", ["context.py", "http.py", "websocket.py"])
def test_native_connections_do_not_import_the_server_that_accepts_them(name: str) -> None:
    assert "minidiscord.frontend.server" not in _imports(PACKAGE / "frontend" / name)


@pytest.mark.parametrize("path", [*_modules("chat"), *_modules("chat/store")], ids=lambda p: p.name)
def test_the_chat_never_reaches_through_a_socket_to_its_connection(path: Path) -> None:
    tree = ast.parse(path.read_text())
    reached = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("client", "session")
        and isinstance(node.value, ast.Name)
        and node.value.id in ("socket", "own", "other")
    ]
    assert not reached, f"{path.name} lines {reached}"
    assert not {name for name in _imports(path) if name.startswith("minidiscord.engine")}
