"""The import graph of `actors` and `socketrush`: no cycles, and no arrow that points up.

Read from the source with `ast`, without importing anything, so a cycle that happens to work
(a lazy import inside a function, a package half-initialised at the right moment) is still
found. Imports inside `if TYPE_CHECKING:` are left out: they never run. Every other import
counts, including those inside functions: they run too, only later.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.support.server import REPO_ROOT

PACKAGES = ("actors", "socketrush")
# The layer that may import the HTTP layer: the HTTP layer itself and the process entry points.
HTTP_LAYER = "socketrush.http"
ABOVE_HTTP = frozenset(
    {
        "socketrush.__main__",
        "socketrush.cli",
        "socketrush.entrypoint",
        "socketrush.gunicorn_worker",
        "socketrush.server",
        "socketrush.wsgi",
    }
)

Graph = dict[str, set[str]]


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Module name -> file, for every .py file of the packages under `root`."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, skipping the bodies of TYPE_CHECKING blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from _imports(child)


def _base(module: str, path: Path, statement: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names (relative imports resolved)."""
    if not statement.level:
        return statement.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - statement.level + 1]
    return ".".join([*package, *([statement.module] if statement.module else [])])


def import_graph(modules: dict[str, Path]) -> Graph:
    """Module -> the modules of `modules` it imports (the most specific module named)."""
    graph: Graph = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for statement in _imports(tree):
            if isinstance(statement, ast.Import):
                targets = [alias.name for alias in statement.names]
            else:
                base = _base(name, path, statement)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in statement.names
                ]
            graph[name].update(target for target in targets if target in modules)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing
    itself (Tarjan's algorithm, iterative so deep graphs cannot hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.append(sorted(component))
    return found


def upward_arrows(graph: Graph) -> set[tuple[str, str]]:
    """Imports of the HTTP layer from below it: the core must not depend on Flask views."""
    return {
        (module, target)
        for module, targets in graph.items()
        if not _in(module, HTTP_LAYER) and module not in ABOVE_HTTP
        for target in targets
        if _in(target, HTTP_LAYER)
    }


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph(module_files(REPO_ROOT, PACKAGES))


def test_no_import_cycles(graph: Graph) -> None:
    assert cycles(graph) == []


def test_the_core_never_imports_the_http_layer(graph: Graph) -> None:
    assert upward_arrows(graph) == set()


def test_actors_imports_nothing_of_socketrush(graph: Graph) -> None:
    assert {
        (module, target)
        for module, targets in graph.items()
        if _in(module, "actors")
        for target in targets
        if _in(target, "socketrush")
    } == set()


def test_settings_types_do_not_depend_on_the_loader(graph: Graph) -> None:
    """socketrush.settings is imported by most modules; it must stay a leaf of plain types."""
    assert graph["socketrush.settings"] == set()


# --- the walker itself, on a package written for the purpose ---------------------------------


def _write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return module_files(root, ["pkg"])


def test_a_cycle_through_a_lazy_import_is_found(tmp_path: Path) -> None:
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import thing\n",
            "pkg/b.py": "def thing():\n    from . import a\n",
            "pkg/c.py": "import pkg.a\n",
        },
    )
    assert cycles(import_graph(modules)) == [["pkg.a", "pkg.b"]]


def test_type_checking_imports_are_ignored_but_their_else_branch_counts(tmp_path: Path) -> None:
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": (
                "import typing\nif typing.TYPE_CHECKING:\n    from pkg import a\n"
                "else:\n    from pkg.sub import c\n"
            ),
            "pkg/sub/__init__.py": "",
            "pkg/sub/c.py": "from ..b import x\n",
        },
    )
    graph = import_graph(modules)
    assert graph["pkg.b"] == {"pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg.b"}
    assert cycles(graph) == [["pkg.b", "pkg.sub.c"]]


def test_an_import_of_the_http_layer_from_the_core_is_found() -> None:
    graph = {
        "socketrush.channel": {"socketrush.http.api"},
        "socketrush.http.api": {"socketrush.channel"},
        "socketrush.server": {"socketrush.http.entry"},
    }
    assert upward_arrows(graph) == {("socketrush.channel", "socketrush.http.api")}


# --- the tests' own imports ---------------------------------------------------------------------


def test_test_modules_share_helpers_through_tests_support_only() -> None:
    """A helper one test module takes from another (or from a conftest) belongs in
    tests/support/: importing a test module runs its module-level code and couples files."""
    tests = module_files(REPO_ROOT, ["tests"])
    borrowed = {
        (module, target)
        for module, targets in import_graph(tests).items()
        for target in targets
        if target.rsplit(".", 1)[-1].startswith("test_") or target.endswith(".conftest")
    }
    assert borrowed == set()
