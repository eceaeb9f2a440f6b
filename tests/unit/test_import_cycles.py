"""No module of the serve, protocol, stats or monitor package imports one that imports it back.

Every import counts: at the top of a module, under ``TYPE_CHECKING``, inside a function, and
a lazy package's name table (``_EXPORTS``), since each is a dependency a reader must follow
and a cycle that only type checking sees today is one a refactoring makes real tomorrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import mlops_lab

ROOT = Path(mlops_lab.__file__).parent
CHECKED = ("serve", "protocol", "stats", "monitor")


def module_name(path: Path) -> str:
    """``mlops_lab/serve/_router.py`` as ``mlops_lab.serve._router``; a package as itself."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that the source of module ``name`` imports, anywhere."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import, from the package up
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            found.add(base)
            # "from pkg import mod" imports the module pkg.mod, not only pkg's namespace.
            found |= {f"{base}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)  # a lazy name table maps names to module paths
    return (found & modules) - {name}


def import_graph(packages: Iterable[str]) -> dict[str, set[str]]:
    """Each module of ``packages`` (under ``mlops_lab``) with the ones of them it imports."""
    paths = [path for package in packages for path in sorted((ROOT / package).glob("*.py"))]
    modules = {module_name(path) for path in paths}
    return {
        module_name(path): imports_of(
            path.read_text(), module_name(path), path.name == "__init__.py", modules
        )
        for path in paths
    }


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as the modules along it (first repeated last), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            cycle = visit(target, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_the_checked_packages_have_no_import_cycle() -> None:
    """No module of serve/, protocol/, stats/ or monitor/ reaches itself through the modules
    it imports."""
    graph = import_graph(CHECKED)
    expected = {"mlops_lab.serve._router", "mlops_lab.protocol._v2", "mlops_lab.monitor._monitor"}
    assert expected <= set(graph)
    assert find_cycle(graph) is None


@pytest.mark.parametrize(
    "sources",
    [
        pytest.param(  # an import only type checking runs still closes a cycle
            {
                "p.a": "import typing\nif typing.TYPE_CHECKING:\n    from p.b import B\n",
                "p.b": "def f():\n    from p import a\n",
            },
            id="type-checking-and-function-imports",
        ),
        pytest.param(  # lazy names pointing at a module that imports the package
            {"p": '_EXPORTS = {"X": "p._x"}\n', "p._x": "from p import Y\n"},
            id="lazy-name-table",
        ),
    ],
)
def test_a_hidden_cycle_is_found(sources: dict[str, str]) -> None:
    """Imports behind TYPE_CHECKING, inside functions or in a lazy name table close cycles."""
    modules = set(sources)
    graph = {
        name: imports_of(source, name, "." not in name, modules) for name, source in sources.items()
    }
    first = min(sources)
    assert find_cycle(graph) == [first, max(sources), first]


def test_modules_that_import_each_other_one_way_are_no_cycle() -> None:
    """A chain of imports without a way back passes."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
