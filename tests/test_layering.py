"""Data flows one way: no flopcount module imports, at run time, a module that imports it.

Every ``.py`` file under ``flopcount/`` is parsed (not imported), so the test sees imports
inside functions as well as at module level; only those under ``if TYPE_CHECKING:`` are
left out, since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "flopcount"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: module level, in functions, in branches."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and is_type_checking(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports at run time."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for statement in runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(statement, ast.Import):
            targets = [alias.name for alias in statement.names]
        else:
            if statement.level:
                base = package.split(".")
                base = base[: len(base) - statement.level + 1]
                prefix = ".".join(base)
                source = f"{prefix}.{statement.module}" if statement.module else prefix
            else:
                source = statement.module or ""
            # `from . import x` imports the submodule x when there is one, else the package
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                for alias in statement.names
            ]
        found.update(target for target in targets if target in modules)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components; every component of more than one module contains a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [component for component in components if len(component) > 1]


def cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One import cycle through the component's first module, as a path back to it."""
    start = component[0]
    members = set(component)
    paths = {start: [start]}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                todo.append(target)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    graph = import_graph()
    assert "flopcount.formulas" in graph["flopcount"]
    assert "flopcount.formulas.activations" in graph["flopcount.formulas"]
    assert "flopcount.formulas.primitives" in graph["flopcount.formulas.arithmetic"]
    assert {"flopcount._count", "flopcount._registry"} <= graph["flopcount._operators"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    cycles = [
        " -> ".join(cycle_in(component, graph)) + f"  (all of {', '.join(component)})"
        for component in strongly_connected(graph)
    ]
    assert not cycles, "import cycles in flopcount:\n" + "\n".join(cycles)


def test_init_only_imports_and_reexports() -> None:
    tree = ast.parse((ROOT / "__init__.py").read_text())
    for index, statement in enumerate(tree.body):
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue
        if index == 0 and isinstance(statement, ast.Expr):
            continue  # the docstring
        if isinstance(statement, ast.Assign) and all(
            isinstance(target, ast.Name) and target.id in {"__all__", "__version__"}
            for target in statement.targets
        ):
            continue
        raise AssertionError(
            f"flopcount/__init__.py line {statement.lineno}: only imports, __all__ and "
            f"__version__ belong there, found {ast.dump(statement)[:80]}"
        )
