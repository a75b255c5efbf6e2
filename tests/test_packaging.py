"""What ships: the wheel's metadata and license, the Dockerfile and the systemd unit.

Docker is not on the test machines: the Dockerfile is parsed (known instructions, files
that exist and reach the build context, a non-root user, the database on a volume) and its
HEALTHCHECK command is run against a real server. The unit passes `systemd-analyze verify`
where systemd is installed, and is checked for the keys it needs everywhere.
"""

import configparser
import fnmatch
import json
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

import pytest
import trio
from packaging.requirements import Requirement

from benchkit.processes import ROOT, free_port
from minidiscord.config import Settings
from tests.support.processes import cli_server

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = ROOT / "Dockerfile"
UNIT = ROOT / "docs" / "minidiscord.service"

# https://docs.docker.com/reference/dockerfile/ (MAINTAINER is deprecated: not allowed here)
INSTRUCTIONS = {
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
}


def test_the_build_needs_a_setuptools_that_reads_license_expressions() -> None:
    (requirement,) = [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]
    assert requirement.name == "setuptools"
    # PEP 639's `license = "MIT"` is understood from setuptools 77 on.
    assert not requirement.specifier.contains("76.1")
    assert requirement.specifier.contains("77.0")


def test_license_file_is_mit_by_the_minidiscord_authors() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "the minidiscord authors" in text.splitlines()[2]
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
    assert PYPROJECT["project"]["license"] == "MIT"


@pytest.mark.slow
def test_wheel_carries_license_urls_and_classifiers_and_only_the_server(tmp_path: Path) -> None:
    # Built as a user would (pip, in its isolated build environment with the setuptools
    # pyproject.toml asks for), from a copy: the build leaves its files beside the sources.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    # The packages beside the server come too, so the wheel's exclusions are what keeps
    # them out.
    for package in ("minidiscord", "benchkit", "scripts", "tests"):
        shutil.copytree(
            ROOT / package,
            source / package,
            ignore=shutil.ignore_patterns("__pycache__", "node_modules"),
        )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("minidiscord-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(archive.read(f"{info}/METADATA").decode())
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert license_text == (ROOT / "LICENSE").read_text()
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    assert urls
    assert all(url.startswith("https://") for url in urls.values())
    classifiers = metadata.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3 :: Only" in classifiers
    assert "Typing :: Typed" in classifiers
    # A license expression replaces the license classifiers (setuptools refuses both).
    assert not [entry for entry in classifiers if entry.startswith("License ::")]
    assert {name.split("/")[0] for name in names} == {"minidiscord", info}
    assert "minidiscord/client/__init__.py" in names


@dataclass
class Instruction:
    keyword: str
    arguments: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD, ENTRYPOINT, RUN or HEALTHCHECK's command."""
        value = json.loads(self.arguments)
        assert isinstance(value, list), self
        return [str(word) for word in value]


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined and comments dropped, as Docker
    reads them (the default escape character, a backslash)."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not pending and not stripped:
            continue
        if stripped.startswith("#"):
            continue  # a comment, also between continuation lines
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        keyword, _, arguments = " ".join(pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    assert not pending, f"line {start}: a continuation that never ends"
    return instructions


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's patterns leave ``path`` (or a folder above it) out of the
    build context: the last matching pattern wins, ``!`` takes a path back in."""
    parts = path.split("/")
    ignored = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        for depth in range(1, len(parts) + 1):
            if fnmatch.fnmatchcase("/".join(parts[:depth]), pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatchcase(parts[depth - 1], pattern[3:])
            ):
                ignored = not keep
                break
    return ignored


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerfile_parses_into_known_instructions() -> None:
    instructions = parse_dockerfile(DOCKERFILE.read_text())
    unknown = [(i.line, i.keyword) for i in instructions if i.keyword not in INSTRUCTIONS]
    assert not unknown
    first = next(i for i in instructions if i.keyword != "ARG")
    assert first.keyword == "FROM"
    image = first.arguments.split()[0]
    assert image.startswith("python:"), image
    assert image.endswith("-slim"), image


def test_dockerfile_run_commands_are_valid_shell() -> None:
    runs = [i for i in parse_dockerfile(DOCKERFILE.read_text()) if i.keyword == "RUN"]
    assert runs
    for run in runs:
        # Shell form runs as /bin/sh -c: let sh parse it without running it.
        checked = subprocess.run(["sh", "-n", "-c", run.arguments], capture_output=True, text=True)
        assert checked.returncode == 0, (run.line, checked.stderr)


def test_dockerfile_copies_files_that_exist_and_reach_the_build_context() -> None:
    patterns = _dockerignore()
    copies = [i for i in parse_dockerfile(DOCKERFILE.read_text()) if i.keyword in ("COPY", "ADD")]
    assert copies
    for copy in copies:
        words = [word for word in shlex.split(copy.arguments) if not word.startswith("--")]
        *sources, _ = words
        assert sources, copy
        for source in sources:
            assert (ROOT / source).exists(), f"line {copy.line}: {source} does not exist"
            assert not _ignored(source.rstrip("/"), patterns), f"{source} is in .dockerignore"
    # The package's own files must not be ignored either (their folder being kept is not
    # enough when a pattern below it drops them).
    for path in (ROOT / "minidiscord").rglob("*"):
        relative = path.relative_to(ROOT).as_posix()
        if path.is_file() and "__pycache__" not in relative:
            assert not _ignored(relative, patterns), relative


def test_dockerignore_keeps_the_development_files_out() -> None:
    patterns = _dockerignore()
    for path in (".venv/bin/python", ".git/HEAD", "tests/node/node_modules/x", "minidiscord.db"):
        assert _ignored(path, patterns), path


def test_dockerfile_runs_as_a_user_with_the_database_on_a_volume() -> None:
    instructions = parse_dockerfile(DOCKERFILE.read_text())
    users = [i for i in instructions if i.keyword == "USER"]
    assert users, "the image would run as root"
    assert users[-1].arguments.split(":")[0] not in ("root", "0")
    environment: dict[str, str] = {}
    for i in instructions:
        if i.keyword == "ENV":
            for word in shlex.split(i.arguments):
                name, _, value = word.partition("=")
                environment[name] = value
    volumes = [
        folder
        for i in instructions
        if i.keyword == "VOLUME"
        for folder in (
            json.loads(i.arguments) if i.arguments.startswith("[") else i.arguments.split()
        )
    ]
    database = environment["MINIDISCORD_DB"]
    assert any(database.startswith(folder.rstrip("/") + "/") for folder in volumes), (
        database,
        volumes,
    )
    (command,) = [i for i in instructions if i.keyword == "CMD"]
    words = command.exec_form()
    assert words[0] == "minidiscord"
    assert words[words.index("--host") + 1] == "0.0.0.0"
    assert instructions.index(users[-1]) < instructions.index(command)


def _healthcheck_command() -> list[str]:
    (check,) = [i for i in parse_dockerfile(DOCKERFILE.read_text()) if i.keyword == "HEALTHCHECK"]
    options, _, command = check.arguments.partition("CMD ")
    assert all(option.startswith("--") for option in options.split()), options
    words = Instruction("CMD", command, check.line).exec_form()
    assert "/healthz" in " ".join(words)
    return words


@pytest.mark.slow
async def test_dockerfile_healthcheck_passes_on_a_serving_server_only() -> None:
    words = _healthcheck_command()
    assert words[0] == "python"
    # The image's python is the one with minidiscord installed: here, ours.
    command = [sys.executable, *words[1:]]
    port = free_port()
    env = {"MINIDISCORD_PORT": str(port), "MINIDISCORD_STORE": "memory"}
    async with cli_server(port, unlimited=False, env=env):
        healthy = await trio.run_process(command, env=env, check=False, capture_stderr=True)
    assert healthy.returncode == 0, healthy.stderr
    gone = await trio.run_process(command, env=env, check=False, capture_stderr=True)
    assert gone.returncode == 1


def _unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_has_the_keys_a_hardened_draining_service_needs() -> None:
    unit = _unit()
    service = unit["Service"]
    assert service["ExecStart"].split()[0].endswith("/minidiscord")
    assert service["DynamicUser"] == "yes"
    assert service["StateDirectory"] == "minidiscord"
    assert service["Environment"]  # at least one; the database below
    assert "%S/minidiscord/" in UNIT.read_text().split("MINIDISCORD_DB=", 1)[1].split()[0]
    assert service["Restart"] in ("on-failure", "always")
    assert service["KillSignal"] == "SIGTERM"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    # systemd must wait out the whole drain before it kills.
    drain = Settings().shutdown_timeout
    for line in UNIT.read_text().splitlines():
        if line.startswith("Environment=MINIDISCORD_SHUTDOWN_TIMEOUT="):
            drain = float(line.split("=", 2)[2])
    assert float(service["TimeoutStopSec"]) > drain
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this environment's command.
    command = Path(sys.executable).parent / "minidiscord"
    assert command.exists()
    text = UNIT.read_text().replace("/opt/minidiscord/bin/minidiscord", str(command))
    assert str(command) in text
    unit = tmp_path / "minidiscord.service"
    unit.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown keys and bad values are only warnings (exit 0): any output fails the test.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
