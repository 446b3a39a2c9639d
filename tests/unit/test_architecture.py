"""The package's shape, checked from its source: no import cycle, no oversized module without a reason.

Both checks read ``smartthumb``'s files with :mod:`ast` (nothing is imported),
so they follow whatever layout is on disk: no module list is written here.

**Imports.** Every ``import`` and ``from ... import`` counts, wherever it is:
at module level, deferred inside a function (a deferred import hides a cycle
from Python, not from the design), or under ``if TYPE_CHECKING:``. A
``from package import name`` is an edge to ``package.name`` when that is a
module, else to ``package``. The implicit import of a module's parent
packages is not an edge (every submodule would otherwise "import" its
package's ``__init__``).

**Size.** A module over :data:`MAX_LINES` lines must say why at its top: a
line in its module docstring starting with ``Size:`` followed by the reason,
e.g. ``Size: one state machine; splitting it would spread one invariant
over three files.``
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE_ROOT = REPO / "layers" / "imaging" / "python"
PACKAGE = "smartthumb"

MAX_LINES = 400

#: Modules allowed over the limit without a stated reason (none: every module
#: over it says why in a ``Size:`` line). Entries for modules that no longer
#: exist are ignored.
KNOWN_OVERSIZE: frozenset[str] = frozenset()


def module_files(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package under ``root``."""
    modules: dict[str, Path] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _absolute(node: ast.ImportFrom, importer: str, modules: dict[str, Path]) -> str:
    """The module a ``from`` import names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not _is_package(importer, modules):
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(importer: str, modules: dict[str, Path]) -> Iterator[str]:
    """The package's modules that ``importer`` imports anywhere in its source."""
    tree = ast.parse(modules[importer].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, importer, modules)
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names
            ]
        for target in targets:
            # ``import a.b.c`` binds ``a`` but runs ``a.b.c``: the deepest known module is the edge.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != importer:
                yield target


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    modules = module_files(root)
    return {name: set(imported_modules(name, modules)) for name in modules}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _cycle_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete loop through ``component``, for the failure message."""
    members = set(component)
    start = component[0]
    path, seen = [start], {start}
    node = start
    while True:
        nxt = sorted(graph[node] & members)
        if start in nxt and len(path) > 1:
            return [*path, start]
        unseen = [n for n in nxt if n not in seen]
        if not unseen:
            return [*path, next(iter(nxt))]
        node = unseen[0]
        path.append(node)
        seen.add(node)


def test_no_import_cycle_inside_the_package() -> None:
    graph = import_graph()
    assert len(graph) > 10, "the package was not found"
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" -> ".join(_cycle_path(graph, c)) for c in found)


def test_the_cycle_check_sees_deferred_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself, on a small made-up package: a cycle closed by a deferred import is found."""
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from smartthumb.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (pkg / "c.py").write_text("import os\n\ndef g():\n    from . import a\n")
    (pkg / "d.py").write_text("from smartthumb import c\n")
    graph = import_graph(tmp_path)
    assert graph["smartthumb.a"] == {"smartthumb.sub.b"}
    assert graph["smartthumb.sub.b"] == {"smartthumb.c"}
    assert graph["smartthumb.c"] == {"smartthumb.a"}
    assert cycles(graph) == [["smartthumb.a", "smartthumb.c", "smartthumb.sub.b"]]
    assert _cycle_path(graph, cycles(graph)[0]) == ["smartthumb.a", "smartthumb.sub.b", "smartthumb.c", "smartthumb.a"]


def _states_a_size_reason(path: Path) -> bool:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return any(line.strip().startswith("Size:") and len(line.strip()) > len("Size:") for line in doc.splitlines())


def test_no_module_over_the_limit_without_a_stated_reason() -> None:
    over = {
        name: n
        for name, path in module_files().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and name not in KNOWN_OVERSIZE
        and not _states_a_size_reason(path)
    }
    assert not over, f"modules over {MAX_LINES} lines without a 'Size:' line in their docstring: {over}"


def test_a_size_reason_is_a_docstring_line(tmp_path: Path) -> None:
    stated = tmp_path / "stated.py"
    stated.write_text('"""Thing.\n\nSize: one parser, one table; see below.\n"""\n')
    empty = tmp_path / "empty.py"
    empty.write_text('"""Thing.\n\nSize:\n"""\n')
    comment = tmp_path / "comment.py"
    comment.write_text('"""Thing."""\n# Size: a comment is not the docstring\n')
    assert _states_a_size_reason(stated)
    assert not _states_a_size_reason(empty)
    assert not _states_a_size_reason(comment)
