"""Engine state of a running profile: the node tree of a model and the counters of a profile.

A :class:`Node` is what stays true of a module between profiles: its qualified name, its
formula, its place in the tree, and the memo of counts its formula gave. The engine keeps
one node tree per model and reuses it while the model's structure and the registry are
unchanged, so profiling the same model every training or decode step builds nothing.

A profile's counts live apart from the nodes, in the :class:`SessionState`'s lists indexed
by ``node.index``: a report keeps the lists of its own profile and the next profile of the
same model starts on fresh ones. Nodes a profile creates for itself (aliases of shared
modules, modules built during forward) are added to that state only.

The module hooks (``_profiler``) and the operator mode (``_operators``) both count into
these objects; neither imports the other for them. When the profile ends the counts are
turned into the report's plain rows, and only when someone reads the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._count import Count
from ._report import ModuleStats

if TYPE_CHECKING:
    from torch import nn

    from ._registry import ModuleFormula


class Node:
    """One module of a model's tree (or, within one profile, an alias or a dynamic module).

    Flags default on the class, so building the tree of a 100,000-module model sets only
    the attributes every node needs.
    """

    children: list[Node] | tuple[()] = ()  # a list once the first child is added
    dynamic = False
    unsupported = False
    uncounted = False  # hooks only: a formula-less block whose own forward code is unseen
    original: Node | None = None  # set on an alias: the node of the module it stands for
    trusted: Node | None = None  # the last caller found to own this node (a memo)
    # memo of the formula: (input shape, output shape) -> Count, valid while the module's
    # state is ``fingerprint`` (see _profiler.Fingerprint)
    memo: dict[Any, Count] | None = None
    fingerprint: Any = None

    def __init__(
        self,
        name: str,
        module: nn.Module | None,
        formula: ModuleFormula | None,
        parent: Node | None,
        index: int,
    ) -> None:
        self.name = name
        self.module = module  # None for a cached tree's root between profiles
        self.kind: type = type(module)
        self.formula = formula
        self.parent = parent
        self.index = index

    def add_child(self, child: Node) -> None:
        if self.children:
            self.children.append(child)  # type: ignore[union-attr]
        else:
            self.children = [child]

    @property
    def label(self) -> str:
        return self.name or "(root)"


PHASES = ("forward", "backward", "recompute", "optimizer")
"""What a training step is made of, in the order tables show them."""


class SessionState:
    """What the hooks and the operator mode of one profile share while it runs.

    ``stack`` holds the running modules' nodes (innermost last); ``suppress`` counts the
    running modules whose formula covers everything inside them (rule 1: nothing inside
    is counted again); ``calls``, ``ops``, ``macs`` and ``shapes`` are this profile's
    counters, one slot per node index; ``extra`` holds the children this profile added to
    a node (aliases, dynamic modules); ``unsupported`` counts calls of what no formula
    counts, by name; ``raised_in`` is the innermost module whose forward raised.
    """

    def __init__(self, size: int = 0) -> None:
        self.stack: list[Node] = []
        self.suppress = 0
        self.calls: list[int] = [0] * size
        self.ops: list[int] = [0] * size
        self.macs: list[int] = [0] * size
        self.shapes: list[tuple[tuple[int, ...], ...]] = [()] * size
        self.extra: dict[Node, list[Node]] = {}
        self.unsupported: dict[str, int] = {}
        self.uncounted: dict[str, int] = {}
        self.by_operator: dict[Any, tuple[int, int, int]] = {}  # function -> ops, macs, calls
        self.raised_in: Node | None = None  # the innermost module whose forward raised
        # distributed: (module name, collective name) -> calls, elements, bytes sent
        self.collectives: dict[tuple[str, str], tuple[int, int, int]] = {}
        self.phases: dict[str, tuple[list[int], list[int]]] = {}  # besides the forward
        self.starts: list[int] = []  # training: autograd's node number as each call began
        self.steps: list[tuple[int, int, tuple[tuple[int, ...], ...]]] = []
        self._stepped = (0, 0)

    def end_step(self, shapes: tuple[tuple[int, ...], ...]) -> None:
        """A top-level call of the root returned: what was counted since the last one."""
        ops, macs = self.totals()
        self.steps.append((ops - self._stepped[0], macs - self._stepped[1], shapes))
        self._stepped = (ops, macs)

    def new_node(
        self, name: str, module: nn.Module, formula: ModuleFormula | None, parent: Node
    ) -> Node:
        """A node of this profile only, under ``parent``, with its own counter slots."""
        node = Node(name, module, formula, parent, len(self.calls))
        self.calls.append(0)
        self.ops.append(0)
        self.macs.append(0)
        self.shapes.append(())
        for ops, macs in self.phases.values():
            ops.append(0)
            macs.append(0)
        self.extra.setdefault(parent, []).append(node)
        return node

    def phase(self, name: str) -> tuple[list[int], list[int]]:
        """(ops, macs) lists of a phase other than the forward, made on first use."""
        lists = self.phases.get(name)
        if lists is None:
            size = len(self.calls)
            lists = self.phases[name] = ([0] * size, [0] * size)
        return lists

    def children(self, node: Node) -> list[Node]:
        extra = self.extra.get(node)
        return [*node.children, *extra] if extra else list(node.children)

    def count_unsupported(self, name: str) -> None:
        self.unsupported[name] = self.unsupported.get(name, 0) + 1

    def count_uncounted(self, name: str) -> None:
        self.uncounted[name] = self.uncounted.get(name, 0) + 1

    def totals(self) -> tuple[int, int]:
        """(ops, macs) of the forward phase."""
        return sum(self.ops), sum(self.macs)

    def phase_totals(self) -> dict[str, tuple[int, int]]:
        """(ops, macs) of every phase that ran, the forward first."""
        found = {"forward": self.totals()} if any(self.calls) else {}
        for name in PHASES[1:]:
            if name in self.phases:
                ops, macs = self.phases[name]
                found[name] = (sum(ops), sum(macs))
        return found


def module_stats(root: Node, state: SessionState) -> dict[str, ModuleStats]:
    """One row per node keyed by qualified name, in tree order (the report's ``modules``).

    A row's ``ops``/``macs`` (and ``self_*``) are the sum of its phases; ``phases`` holds
    each phase that ran in the profile (only the forward for a profile without backward).
    """
    rows: dict[str, ModuleStats] = {}
    names = [name for name in PHASES[1:] if name in state.phases]
    lists = [(state.ops, state.macs)] + [state.phases[name] for name in names]
    _collect(root, 0, state, ("forward", *names), lists, frozenset(state.phase_totals()), rows)
    return rows


def _collect(
    node: Node,
    depth: int,
    state: SessionState,
    names: tuple[str, ...],
    lists: list[tuple[list[int], list[int]]],
    ran: frozenset[str],
    out: dict[str, ModuleStats],
) -> list[tuple[int, int]]:
    """Depth-first: fill ``out`` in tree order, return the node's inclusive (ops, macs)
    per phase."""
    out[node.name] = None  # type: ignore[assignment]  # reserve the tree-order slot
    index = node.index
    own = [(ops[index], macs[index]) for ops, macs in lists]
    inclusive = list(own)
    children = state.children(node)
    for child in children:
        below = _collect(child, depth + 1, state, names, lists, ran, out)
        inclusive = [(a + c, b + d) for (a, b), (c, d) in zip(inclusive, below, strict=True)]
    out[node.name] = ModuleStats(
        name=node.name,
        type=node.kind.__name__,
        depth=depth,
        calls=state.calls[index],
        ops=sum(ops for ops, _ in inclusive),
        macs=sum(macs for _, macs in inclusive),
        self_ops=sum(ops for ops, _ in own),
        self_macs=sum(macs for _, macs in own),
        input_shapes=state.shapes[index],
        has_formula=node.formula is not None,
        children=tuple(child.name for child in children),
        phases={
            name: Count(*count) for name, count in zip(names, inclusive, strict=True) if name in ran
        },
    )
    return inclusive
