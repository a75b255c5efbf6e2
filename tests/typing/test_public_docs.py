"""The public API is ``__all__`` of :mod:`minidiscord.sockets` and :mod:`minidiscord.client`:
every name there, and every public method and property of its classes, has a docstring.
Type aliases cannot carry one at run time, so theirs is the string right after the
assignment in the source (as Sphinx reads it)."""

import ast
import inspect
import pkgutil
from importlib import import_module
from types import ModuleType

import pytest

import minidiscord.client
import minidiscord.sockets

PACKAGES = [minidiscord.sockets, minidiscord.client]


def documented_assignments(package: ModuleType) -> set[str]:
    """Names assigned at module level in the package and followed by a docstring."""
    names: set[str] = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = import_module(f"{package.__name__}.{info.name}")
        tree = ast.parse(inspect.getsource(module))
        for statement, following in zip(tree.body, tree.body[1:], strict=False):
            if not (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                continue
            if isinstance(statement, ast.Assign):
                names.update(t.id for t in statement.targets if isinstance(t, ast.Name))
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                names.add(statement.target.id)
    return names


def own_doc(obj: object) -> str | None:
    """The object's own docstring, not one inherited from a builtin base or ``object``."""
    doc = getattr(obj, "__doc__", None)
    return doc.strip() if isinstance(doc, str) and doc.strip() else None


def missing_in_class(cls: type) -> list[str]:
    missing: list[str] = []
    for klass in cls.__mro__:
        # The project's own bases (mixins such as Operators and CatchAll) are part of what
        # the class offers; builtins, typing and enum bases are not ours to document.
        if not klass.__module__.startswith("minidiscord."):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_"):
                continue
            function = member.fget if isinstance(member, property) else member
            if isinstance(function, staticmethod | classmethod):
                function = function.__func__
            if not inspect.isfunction(function) and not isinstance(member, property):
                continue
            # An alias (``in_ = to``) shares its target's docstring.
            if inspect.getdoc(getattr(cls, name)) is None:
                missing.append(f"{cls.__name__}.{name}")
    return missing


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_every_public_name_and_method_has_a_docstring(package: ModuleType) -> None:
    aliases = documented_assignments(package)
    missing: list[str] = []
    for name in package.__all__:
        obj = getattr(package, name)
        if inspect.isclass(obj):
            if own_doc(obj) is None:
                missing.append(name)
            missing.extend(missing_in_class(obj))
        elif inspect.isfunction(obj):
            if own_doc(obj) is None:
                missing.append(name)
        elif name not in aliases:
            missing.append(name)
    assert not missing, sorted(set(missing))


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_all_names_only_what_the_package_exports(package: ModuleType) -> None:
    assert sorted(package.__all__) == sorted(set(package.__all__))
    for name in package.__all__:
        assert not name.startswith("_")
        assert hasattr(package, name), name
