"""Engine state of a running profile: one node per module and the state the hooks share.

The module hooks (``_profiler``) and the operator mode (``_operators``) both count into
these objects; neither imports the other for them. When the profile ends the nodes are
turned into the report's plain rows, and only when someone reads the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._report import ModuleStats

if TYPE_CHECKING:
    from torch import nn

    from ._registry import ModuleFormula


class Node:
    """Mutable per-module accumulator used while a profile runs (one per module).

    Counters default on the class, so building the tree of a 100,000-module model sets
    only the four attributes every node needs.
    """

    children: list[Node] | tuple[()] = ()  # a list once the first child is added
    calls = 0
    self_ops = 0
    self_macs = 0
    shapes: tuple[tuple[int, ...], ...] = ()
    dynamic = False
    unsupported = False
    uncounted = False  # hooks only: a formula-less block whose own forward code is unseen
    original: Node | None = None  # set on an alias: the node of the module it stands for
    trusted: Node | None = None  # the last caller found to own this node (a memo)

    def __init__(
        self, name: str, module: nn.Module, formula: ModuleFormula | None, parent: Node | None
    ) -> None:
        self.name = name
        self.module = module
        self.formula = formula
        self.parent = parent

    def add_child(self, child: Node) -> None:
        if self.children:
            self.children.append(child)  # type: ignore[union-attr]
        else:
            self.children = [child]

    @property
    def label(self) -> str:
        return self.name or "(root)"


class SessionState:
    """What the hooks and the operator mode of one profile share while it runs.

    ``stack`` holds the running modules' nodes (innermost last); ``suppress`` counts the
    running modules whose formula covers everything inside them (rule 1: nothing inside
    is counted again); ``unsupported`` counts calls of what no formula counts, by name;
    ``raised_in`` is the innermost module whose forward raised (for error messages).
    """

    def __init__(self) -> None:
        self.stack: list[Node] = []
        self.suppress = 0
        self.unsupported: dict[str, int] = {}
        self.uncounted: dict[str, int] = {}
        self.by_operator: dict[Any, tuple[int, int, int]] = {}  # function -> ops, macs, calls
        self.raised_in: Node | None = None  # the innermost module whose forward raised
        # distributed: (module name, collective name) -> calls, elements, bytes sent
        self.collectives: dict[tuple[str, str], tuple[int, int, int]] = {}

    def count_unsupported(self, name: str) -> None:
        self.unsupported[name] = self.unsupported.get(name, 0) + 1

    def count_uncounted(self, name: str) -> None:
        self.uncounted[name] = self.uncounted.get(name, 0) + 1


def totals(root: Node) -> tuple[int, int]:
    """(ops, macs) of the whole tree."""
    ops = macs = 0
    todo = [root]
    while todo:
        node = todo.pop()
        ops += node.self_ops
        macs += node.self_macs
        todo.extend(node.children)
    return ops, macs


def module_stats(root: Node) -> dict[str, ModuleStats]:
    """One row per node keyed by qualified name, in tree order (the report's ``modules``)."""
    rows: dict[str, ModuleStats] = {}
    _collect(root, 0, rows)
    return rows


def _collect(node: Node, depth: int, out: dict[str, ModuleStats]) -> tuple[int, int]:
    """Depth-first: fill ``out`` in tree order, return the node's inclusive (ops, macs)."""
    out[node.name] = None  # type: ignore[assignment]  # reserve the tree-order slot
    ops, macs = node.self_ops, node.self_macs
    for child in node.children:
        child_ops, child_macs = _collect(child, depth + 1, out)
        ops += child_ops
        macs += child_macs
    out[node.name] = ModuleStats(
        name=node.name,
        type=type(node.module).__name__,
        depth=depth,
        calls=node.calls,
        ops=ops,
        macs=macs,
        self_ops=node.self_ops,
        self_macs=node.self_macs,
        input_shapes=node.shapes,
        has_formula=node.formula is not None,
        children=tuple(child.name for child in node.children),
    )
    return ops, macs
