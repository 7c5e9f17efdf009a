"""Distributed training: local shards, named collectives, wrappers, one report for the job.

What a rank counts is the arithmetic *it* does (design, attribution rule 7):

- **DTensor** (tensor, sequence and context parallel layouts): a DTensor's ``shape`` is the
  global shape, but the rank computes on its local shard. Formulas only read shapes, so
  they are handed local views: every DTensor among a module's inputs and output becomes its
  local tensor, and the module's own DTensor parameters are swapped for their local shards
  while the formula runs (``module.weight.shape`` is then the shard's shape). Whether a
  module needs this is decided once, on its first counted call
  (:func:`localize_on_first_call`); operator formulas get the same views when the torch
  function mode is handed a DTensor (:func:`local_views`). Nothing of this runs for
  ordinary tensors, and ``torch.distributed.tensor`` is never imported by flopcount: if the
  program has not imported it, no DTensor can exist.
- **Collectives** are communication, not arithmetic: they are registered with
  :func:`collective`, a formula that counts zero, and the operator mode records each call
  (the module that issued it, the elements and bytes this rank sends) through
  :func:`record_collective`. ``Report.collectives`` holds the result.
- **Wrappers** (DDP, FSDP1, activation-checkpoint wrappers) add a level of modules named
  ``module`` / ``_fsdp_wrapped_module`` / ``_checkpoint_wrapped_module``: rows are named as
  the user wrote them (:func:`finish_report`), the wrapper's row is merged into the module it
  wraps, and ``Report.wrapped_names`` maps each renamed row back.
- **One report for the job**: :func:`gather` sends every rank's report to every rank with
  ``torch.distributed.all_gather_object`` and sums them, field by field.

This module imports nothing of flopcount that imports it back: ``_report`` imports it.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ._count import ZERO, Count
from ._registry import zero_cost
from ._shapes import shapes_of

if TYPE_CHECKING:
    from ._node import Node
    from ._report import ModuleStats, Report


@dataclass(frozen=True, slots=True)
class CollectiveStats:
    """One collective as one module issued it: ``calls``; ``elements`` and ``bytes`` this
    rank contributed (the payload of its input tensors, summed over calls). What travels on
    the wire depends on the algorithm (a ring all-reduce sends ``2·(p − 1)/p`` of it)."""

    calls: int
    elements: int
    bytes: int


def collective(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """A collective (all-reduce, all-gather, reduce-scatter, ...): communication, zero ops.

    The operator mode also records it, with the elements and bytes this rank sends, in
    ``Report.collectives`` under the module that issued it.
    """
    return ZERO


# -- DTensor: local views ------------------------------------------------------------------
def dtensor_type() -> type | None:
    """``DTensor`` if the program has imported it; without it no DTensor can exist."""
    space = sys.modules.get("torch.distributed.tensor")
    found = getattr(space, "DTensor", None)
    return found if isinstance(found, type) else None


def _local(tensor: Any) -> Any:
    # _local_tensor is the shard itself; to_local() would also build an autograd node
    local = getattr(tensor, "_local_tensor", None)
    return local if local is not None else tensor.to_local()


def _localized(obj: Any, dtensor: type) -> Any:
    """``obj`` with every DTensor (in tuples, lists and dicts) replaced by its local shard."""
    if isinstance(obj, dtensor):
        return _local(obj)
    if type(obj) in (tuple, list):
        return type(obj)(_localized(item, dtensor) for item in obj)
    if type(obj) is dict:
        return {key: _localized(value, dtensor) for key, value in obj.items()}
    return obj


def _holds(obj: Any, dtensor: type) -> bool:
    if isinstance(obj, dtensor):
        return True
    if isinstance(obj, (tuple, list)):
        return any(_holds(item, dtensor) for item in obj)
    if isinstance(obj, dict):
        return any(_holds(item, dtensor) for item in obj.values())
    return False


class LocalFormula:
    """A module formula evaluated on the rank's local shards (see the module docstring)."""

    def __init__(self, formula: Callable[..., Any], dtensor: type, sharded_parameters: bool):
        self.formula = formula
        self.dtensor = dtensor
        self.sharded_parameters = sharded_parameters
        self.__doc__ = getattr(formula, "__doc__", None)

    def __call__(self, module: torch.nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
        dtensor = self.dtensor
        inputs, output = _localized(inputs, dtensor), _localized(output, dtensor)
        if not self.sharded_parameters:
            return self.formula(module, inputs, output)
        parameters = module._parameters
        module._parameters = {name: _localized(p, dtensor) for name, p in parameters.items()}
        try:
            return self.formula(module, inputs, output)
        finally:
            module._parameters = parameters


def localize_on_first_call(
    node: Node, module: torch.nn.Module, args: tuple[Any, ...], kwargs: Any, output: Any
) -> tuple[tuple[int, ...], ...] | None:
    """On a module's first counted call: if it computes on DTensors, price it on its shards
    from now on (its formula wrapped in :class:`LocalFormula`, kept with the node while the
    engine reuses the model's tree) and return its local input shapes; else None."""
    dtensor = dtensor_type()
    formula = node.formula
    if dtensor is None or formula is None or formula is zero_cost:
        return None
    sharded = any(isinstance(p, dtensor) for p in module._parameters.values())
    if not sharded and not _holds((args, kwargs, output), dtensor):
        return None
    if not isinstance(formula, LocalFormula):
        node.formula = LocalFormula(formula, dtensor, sharded)
    return shapes_of(_localized((args, kwargs), dtensor))


def local_views(
    types: Iterable[type], args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> tuple[tuple[Any, ...], dict[str, Any], Any]:
    """The arguments and result of a torch call as an operator formula should see them:
    local shards where the call was handed DTensors (``types`` holds the tensor subclasses
    among its arguments, so plain tensors never get past the first test)."""
    dtensor = dtensor_type()
    if dtensor is None or not any(issubclass(t, dtensor) for t in types):
        return args, kwargs, output
    return _localized(args, dtensor), _localized(kwargs, dtensor), _localized(output, dtensor)


# -- collectives ---------------------------------------------------------------------------
# The argument holding what a rank sends, for the torch.distributed functions whose first
# argument is their output; the functional collectives (torch.ops._c10d_functional.*) and
# every other function take their input first.
_SENT_ARGUMENT = {
    "all_gather": (1, "tensor"),
    "all_gather_into_tensor": (1, "input_tensor"),
    "all_gather_single": (1, "input_tensor"),
    "reduce_scatter_single": (1, "input"),
    "all_gather_coalesced": (1, "input_tensor_list"),
    "reduce_scatter": (1, "input_list"),
    "reduce_scatter_tensor": (1, "input"),
    "all_to_all": (1, "input_tensor_list"),
    "all_to_all_single": (1, "input"),
    "scatter": (1, "scatter_list"),
}


def _payload(obj: Any) -> tuple[int, int]:
    """(elements, bytes) of every tensor in ``obj``, as the rank holds them."""
    elements = size = 0
    todo = [obj]
    dtensor = dtensor_type()
    while todo:
        item = todo.pop()
        if isinstance(item, torch.Tensor):
            if dtensor is not None and isinstance(item, dtensor):
                item = _local(item)
            count = item.numel()
            elements += count
            size += count * item.element_size()
        elif isinstance(item, (tuple, list)):
            todo.extend(item)
    return elements, size


def record_collective(
    state: Any, func: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Tally a collective under the innermost running module (``state.stack[-1]``)."""
    if isinstance(func, torch._ops.OpOverload | torch._ops.OpOverloadPacket):
        sent = args[0] if args else None  # functional collectives take their input first
    else:
        index, keyword = _SENT_ARGUMENT.get(getattr(func, "__name__", ""), (0, "tensor"))
        sent = args[index] if len(args) > index else kwargs.get(keyword)
    elements, size = _payload(sent)
    key = (state.stack[-1].name, name)
    seen = state.collectives.get(key)
    state.collectives[key] = (
        (1, elements, size) if seen is None else (seen[0] + 1, seen[1] + elements, seen[2] + size)
    )


def collectives_by_module(
    tallies: Mapping[tuple[str, str], tuple[int, int, int]], rename: Callable[[str], str]
) -> dict[str, dict[str, CollectiveStats]]:
    """``{module: {collective: CollectiveStats}}`` from the engine's tallies."""
    out: dict[str, dict[str, CollectiveStats]] = {}
    for (module, name), (calls, elements, size) in tallies.items():
        out.setdefault(rename(module), {})[name] = CollectiveStats(calls, elements, size)
    return out


# -- wrappers ------------------------------------------------------------------------------
# Wrapper classes (where the running torch has them) and the attribute holding what each
# wraps; the classes are read from sys.modules, so no wrapper module is ever imported here.
# DDP wraps the whole model (torch refuses a DDP inside another), and its module is loaded
# with torch itself: only the root is checked for it. The others are looked for on every
# module, and only once their modules have been imported.
_ROOT_WRAPPERS = (("torch.nn.parallel.distributed", "DistributedDataParallel", "module"),)
_WRAPPERS = (
    ("torch.distributed.fsdp.fully_sharded_data_parallel", "FullyShardedDataParallel",
     "_fsdp_wrapped_module"),
    ("torch.distributed.algorithms._checkpoint.checkpoint_wrapper", "ActivationWrapper",
     "_checkpoint_wrapped_module"),
)  # fmt: skip


def _loaded(wrappers: Iterable[tuple[str, str, str]]) -> list[tuple[type, str]]:
    found = []
    for module_name, class_name, attribute in wrappers:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(cls, type):
            found.append((cls, attribute))
    return found


_LOADED: dict[int, tuple[list[tuple[type, str]], list[tuple[type, str]]]] = {}


def _wrapper_classes() -> tuple[list[tuple[type, str]], list[tuple[type, str]]]:
    """The wrapper classes loaded so far (root-only ones, any-module ones), looked up again
    only when the number of imported modules changed: every profile asks."""
    size = len(sys.modules)
    known = _LOADED.get(size)
    if known is None:
        _LOADED.clear()
        known = _LOADED[size] = (_loaded(_ROOT_WRAPPERS), _loaded(_WRAPPERS))
    return known


def _wrapped(model: torch.nn.Module, nodes: Mapping[torch.nn.Module, Node]) -> dict[str, str]:
    """``{wrapped module's name: wrapper's name}`` for every wrapper: ``model`` (the root,
    named "") and the modules of ``nodes``."""
    found = {}
    root_classes, classes = _wrapper_classes()
    for cls, attribute in root_classes:
        if isinstance(model, cls):
            found[attribute] = ""
    if not classes:
        return found
    types = tuple(cls for cls, _ in classes)
    named = [(model, "")] + [(m, node.name) for m, node in nodes.items() if m is not model]
    for module, name in named:
        if isinstance(module, types):
            attribute = next(a for cls, a in classes if isinstance(module, cls))
            found[f"{name}.{attribute}" if name else attribute] = name
    return found


def _renamer(wrapped: Mapping[str, str]) -> Callable[[str], str]:
    """``name -> user's name``: a wrapper's attribute adds no level to the user's name."""

    def rename(name: str) -> str:
        out: list[str] = []
        prefix = ""
        for part in name.split("."):
            prefix = f"{prefix}.{part}" if prefix else part
            if prefix not in wrapped:
                out.append(part)
        return ".".join(out)

    return rename


def finish_report(
    report: Report,
    model: torch.nn.Module,
    nodes: Mapping[torch.nn.Module, Node],
    tallies: Mapping[tuple[str, str], tuple[int, int, int]],
) -> None:
    """Fill what a profile adds for distributed runs: ``report.collectives``, and rows named
    as the user wrote them when the model holds wrappers (DDP, FSDP1, checkpoint wrappers):
    each wrapper's row merged into the module it wraps (that module's type, the wrapper's
    name and place; a wrapper's own work, if any, added to its self counts), the names in
    ``unsupported``, ``uncounted`` and ``collectives`` renamed alike, and
    ``report.wrapped_names`` mapping each renamed row to its name in ``named_modules()``."""
    wrapped = _wrapped(model, nodes)
    if not wrapped:  # the common case: names stay as they are
        report.collectives = collectives_by_module(tallies, str) if tallies else {}
        return
    rename = _renamer(wrapped)
    report.collectives = collectives_by_module(tallies, rename)
    rows = report.modules
    wrappers = set(wrapped.values())
    out: dict[str, ModuleStats] = {}
    original: dict[str, str] = {}
    for name, row in rows.items():
        if name in wrappers:
            continue
        changes: dict[str, Any] = {
            "name": rename(name),
            "children": tuple(dict.fromkeys(rename(c) for c in row.children)),
            "depth": row.depth
            - sum(1 for inner in wrapped if name == inner or name.startswith(inner + ".")),
        }
        wrapper = wrapped.get(name)
        if wrapper is not None:
            outer = rows[wrapper]
            changes["self_ops"] = row.self_ops + outer.self_ops
            changes["self_macs"] = row.self_macs + outer.self_macs
        new = dataclasses.replace(row, **changes)
        out[new.name] = new
        if new.name != name:
            original[new.name] = name
    report._modules = type(rows)(out)
    report.wrapped_names = original
    report.unsupported = {rename(k): v for k, v in report.unsupported.items()}
    report.uncounted = {rename(k): v for k, v in report.uncounted.items()}


# -- one report for the job ----------------------------------------------------------------
# ModuleStats fields that describe a row rather than count something: kept from the first
# rank that has the row. Every other field is a count and is summed over ranks.
_STRUCTURE = frozenset(("name", "type", "depth", "input_shapes", "has_formula"))
_NOT_SENT = frozenset(("_build_rows", "ranks"))


def _merged(values: list[Any]) -> Any:
    """The sum over ranks of one field: numbers add, mappings add key by key (a key some
    ranks lack counts zero there), dataclasses and named tuples field by field; anything
    else (names, flags, shapes) is the first rank's."""
    first = values[0]
    if isinstance(first, bool) or first is None or isinstance(first, str):
        return first
    if isinstance(first, int | float):
        return sum(values)
    if dataclasses.is_dataclass(first) and not isinstance(first, type):
        fields = {}
        for field in dataclasses.fields(first):
            column = [getattr(v, field.name) for v in values]
            if field.name in _STRUCTURE:
                fields[field.name] = column[0]
            elif field.name == "children":
                fields[field.name] = tuple(dict.fromkeys(c for cs in column for c in cs))
            else:
                fields[field.name] = _merged(column)
        return dataclasses.replace(first, **fields)
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # Count and other NamedTuples
        return type(first)(*(_merged(list(column)) for column in zip(*values, strict=True)))
    if isinstance(first, Mapping):
        keys = dict.fromkeys(key for value in values for key in value)
        merged = {key: _merged([v[key] for v in values if key in v]) for key in keys}
        return merged if type(first) is dict else type(first)(merged)  # type: ignore[call-arg]
    if isinstance(first, tuple) and all(isinstance(v, int) for v in first):
        if all(len(v) == len(first) for v in values):
            return tuple(sum(column) for column in zip(*values, strict=True))
    if isinstance(first, list) and all(len(v) == len(first) for v in values):
        return [_merged(list(column)) for column in zip(*values, strict=True)]
    return first


def _payload_of(report: Report) -> dict[str, Any]:
    report.modules  # noqa: B018  (rows are built lazily: build them before sending)
    return {k: v for k, v in vars(report).items() if k not in _NOT_SENT}


def _rebuilt(cls: type[Report], state: dict[str, Any]) -> Report:
    report = cls()
    vars(report).update(state)
    return report


def _tree_order(rows: Mapping[str, ModuleStats]) -> dict[str, ModuleStats]:
    """Rows in tree order from the root, over the union of every rank's children (pipeline
    stages each hold part of the model); rows no walk reaches keep their order at the end."""
    ordered: dict[str, ModuleStats] = {}
    todo = [""] if "" in rows else []
    while todo:
        name = todo.pop()
        if name in ordered or name not in rows:
            continue
        ordered[name] = rows[name]
        todo.extend(reversed(rows[name].children))
    for name, row in rows.items():
        ordered.setdefault(name, row)
    return ordered


def gather(report: Report, group: Any = None) -> Report:
    """Every rank's report, summed: see :meth:`flopcount.Report.gather`."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "Report.gather() needs an initialized torch.distributed process group "
            "(torch.distributed.init_process_group); every rank must call it"
        )
    report._require_filled()
    payloads: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(payloads, _payload_of(report), group=group)
    keys = dict.fromkeys(key for payload in payloads for key in payload)
    state = {key: _merged([p[key] for p in payloads if key in p]) for key in keys}
    modules = state.get("_modules")
    if modules is not None:
        state["_modules"] = type(modules)(_tree_order(modules))
    cls = type(report)
    gathered = _rebuilt(cls, state)
    gathered.ranks = tuple(_rebuilt(cls, payload) for payload in payloads)
    return gathered
