"""Every public function, method and class says what it is for, what it takes, returns and raises.

The API reference (docs/reference/*.md) is generated from these docstrings by mkdocstrings with the Google style,
so a parameter missing from ``Args:`` or a value missing its ``Returns:`` is a hole in the published reference.
The public API is ``zgen_otel.__all__`` and the ``__all__`` of each module the reference documents.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    "zgen_otel",
    "zgen_otel.metrics",
    "zgen_otel.performance",
    "zgen_otel.system_monitor",
    "zgen_otel.alerting",
    "zgen_otel.dashboards",
    "zgen_otel.http",
    "zgen_otel.llm",
    "zgen_otel.tasks",
    "zgen_otel.asgi",
    "zgen_otel.traces",
    "zgen_otel.logs",
    "zgen_otel.testing",
    "zgen_otel.config",
    "zgen_otel.exceptions",
    "zgen_otel.semconv",
]
CATCH_ALLS = {griffe.ParameterKind.var_positional, griffe.ParameterKind.var_keyword}
NO_VALUE = {"None", "NoReturn", "Never"}
_PACKAGE: griffe.Module | None = None


def package() -> griffe.Module:
    """The statically loaded zgen_otel package of this checkout (loaded once)."""
    global _PACKAGE
    if _PACKAGE is None:
        loaded = griffe.load("zgen_otel", search_paths=[str(ROOT)], docstring_parser="google")
        assert isinstance(loaded, griffe.Module)
        _PACKAGE = loaded
    return _PACKAGE


def exported(module: str) -> Iterator[griffe.Object]:
    """The objects a module's ``__all__`` names, with aliases followed to where they are defined."""
    found = package() if module == "zgen_otel" else package()[module.removeprefix("zgen_otel.")]
    for name in importlib.import_module(module).__all__:
        obj = found[name]
        yield obj.final_target if isinstance(obj, griffe.Alias) else obj


def test_exported_functions_and_classes_are_documented_as_such() -> None:
    """A function bound to a new name (``get = _impl.get``) would show in the reference as a variable."""
    for module in MODULES:
        runtime = importlib.import_module(module)
        for name, obj in zip(runtime.__all__, exported(module), strict=True):
            if inspect.isfunction(getattr(runtime, name)) or inspect.isclass(getattr(runtime, name)):
                assert isinstance(obj, (griffe.Function, griffe.Class)), f"{module}.{name} is seen as {obj.kind}"


def public_api() -> dict[str, griffe.Function | griffe.Class]:
    """Every function, class and public method the reference documents, by its path."""
    found: dict[str, griffe.Function | griffe.Class] = {}
    for module in MODULES:
        for obj in exported(module):
            if isinstance(obj, griffe.Function):
                found[obj.path] = obj
            elif isinstance(obj, griffe.Class):
                found[obj.path] = obj
                for member in obj.members.values():
                    if isinstance(member, griffe.Function) and not member.name.startswith("_"):
                        found[member.path] = member
    return found


def parse(obj: griffe.Object, caplog: pytest.LogCaptureFixture) -> list[griffe.DocstringSection]:
    """The docstring's sections; a docstring griffe warns about (a stray name, a bad section) fails."""
    assert obj.docstring is not None and obj.docstring.value.strip(), f"{obj.path} has no docstring"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="griffe"):
        sections = obj.docstring.parse("google")
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("griffe")]
    assert warnings == [], f"{obj.path}: {warnings}"
    assert isinstance(sections[0], griffe.DocstringSectionText), f"{obj.path} does not start by saying what it is for"
    return sections


def documented(sections: list[griffe.DocstringSection], *kinds: griffe.DocstringSectionKind) -> set[str]:
    """The names listed in the sections of these kinds."""
    return {item.name for section in sections if section.kind in kinds for item in section.value}


def named(parameters: griffe.Parameters) -> set[str]:
    """The parameters a caller passes by name or position, not self/cls and not the *args/**kwargs catch-alls."""
    return {p.name for p in parameters if p.kind not in CATCH_ALLS and p.name not in ("self", "cls")}


def check_function(function: griffe.Function, caplog: pytest.LogCaptureFixture) -> None:
    sections = parse(function, caplog)
    if function.name.startswith("__") or "property" in function.labels:
        return
    missing = named(function.parameters) - documented(sections, griffe.DocstringSectionKind.parameters)
    assert not missing, f"{function.path}: Args does not name {sorted(missing)}"
    returns = str(function.returns) if function.returns is not None else "None"
    if returns not in NO_VALUE:
        kinds = {section.kind for section in sections}
        assert kinds & {griffe.DocstringSectionKind.returns, griffe.DocstringSectionKind.yields}, (
            f"{function.path} returns {returns} but its docstring has no Returns section"
        )


def check_class(cls: griffe.Class, caplog: pytest.LogCaptureFixture) -> None:
    sections = parse(cls, caplog)
    documented_names = documented(
        sections, griffe.DocstringSectionKind.parameters, griffe.DocstringSectionKind.attributes
    )
    init = cls.all_members.get("__init__")
    if isinstance(init, griffe.Function) and init.parent is cls:
        if init.docstring is not None:
            documented_names |= documented(parse(init, caplog), griffe.DocstringSectionKind.parameters)
        missing = named(init.parameters) - documented_names
        assert not missing, f"{cls.path}: neither the class nor __init__ docstring names {sorted(missing)} in Args"


API = public_api()


@pytest.mark.parametrize("path", sorted(API))
def test_public_object_documents_its_arguments_and_result(path: str, caplog: pytest.LogCaptureFixture) -> None:
    obj = API[path]
    if isinstance(obj, griffe.Class):
        check_class(obj, caplog)
    else:
        check_function(obj, caplog)


@pytest.mark.parametrize("module", MODULES)
def test_reference_page_documents_exactly_the_module_exports(module: str) -> None:
    """Each docs/reference page lists its module's ``__all__`` as the mkdocstrings ``members`` (nothing private)."""
    page = ROOT / "docs" / "reference" / f"{module.removeprefix('zgen_otel.')}.md"
    text = page.read_text()
    assert f"::: {module}\n" in text
    listed = re.findall(r"^ {8}- (\S+)$", text, flags=re.MULTILINE)
    assert listed == list(importlib.import_module(module).__all__)


def test_the_check_sees_an_undocumented_parameter(caplog: pytest.LogCaptureFixture) -> None:
    source = '''
def scale(value: float, factor: float) -> float:
    """Multiply a value.

    Args:
        value: The value.

    Returns:
        The product.
    """
    return value * factor
'''
    module = griffe.visit("example", Path("example.py"), source, docstring_parser=griffe.Parser.google)
    function = module["scale"]
    assert isinstance(function, griffe.Function)
    with pytest.raises(AssertionError, match=re.escape("Args does not name ['factor']")):
        check_function(function, caplog)
