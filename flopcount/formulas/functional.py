"""Torch functions that do no arithmetic: metadata, views, copies, creation.

Declared zero-cost so that operator counting names only what it truly cannot count.
Creating or initialising tensors (``torch.zeros``, ``nn.init.*``) fills memory; it is not
arithmetic of the model, so a module built inside ``forward`` costs only its own calls.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._registry import DEFAULT

_PROPERTIES = (
    "shape", "dtype", "device", "ndim", "T", "mT", "H", "mH", "requires_grad", "is_cuda",
    "is_meta", "is_sparse", "is_quantized", "layout", "data", "grad", "grad_fn", "names",
    "is_leaf", "itemsize", "nbytes", "real", "imag", "is_mps", "is_cpu", "is_nested",
    "output_nr", "_version", "_base",
)
_TENSOR_METHODS = (
    "size", "dim", "numel", "nelement", "stride", "storage_offset", "is_contiguous",
    "is_floating_point", "is_complex", "element_size", "data_ptr", "get_device",
    "view", "view_as", "reshape", "reshape_as", "permute", "transpose", "transpose_",
    "t", "contiguous", "flatten", "unflatten", "squeeze", "unsqueeze", "squeeze_",
    "unsqueeze_", "expand", "expand_as", "repeat", "tile", "narrow", "select", "unbind",
    "split", "chunk", "tensor_split", "movedim", "moveaxis", "swapaxes", "swapdims",
    "flip", "roll", "index_select", "gather", "take", "masked_select", "__getitem__",
    "__setitem__", "__len__", "__iter__", "__repr__", "__format__", "__bool__", "__index__",
    "__int__", "__float__", "__hash__", "__reduce_ex__", "__deepcopy__", "item", "tolist",
    "numpy", "to", "type", "type_as", "float", "double", "half", "bfloat16", "int", "long",
    "bool", "short", "byte", "char", "cpu", "cuda", "clone", "detach", "detach_",
    "requires_grad_", "copy_", "zero_", "fill_", "new_zeros", "new_ones", "new_empty",
    "new_full", "new_tensor", "masked_fill", "masked_fill_", "index_fill", "index_fill_",
    "scatter", "scatter_", "index_put", "index_put_", "index_copy", "index_copy_",
    "masked_scatter", "masked_scatter_", "as_strided", "unfold", "diagonal", "tril", "triu",
    "tril_", "triu_", "pin_memory", "share_memory_", "record_stream", "untyped_storage",
    "storage", "_is_view", "is_set_to", "dim_order", "__contains__", "__array__",
    "__dlpack__", "align_to", "refine_names", "rename", "retain_grad", "register_hook",
    "backward", "is_pinned", "is_shared", "is_inference", "nonzero", "argwhere",
    "__reversed__", "view_as_real", "chalf", "cfloat", "cdouble", "coalesce",
)
_TORCH_FUNCTIONS = (
    "cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "split",
    "chunk", "tensor_split", "unbind", "reshape", "flatten", "unflatten", "squeeze",
    "unsqueeze", "transpose", "permute", "movedim", "moveaxis", "swapaxes", "narrow",
    "select", "index_select", "gather", "take", "masked_select", "flip", "roll", "t",
    "tile", "broadcast_to", "broadcast_tensors", "atleast_1d", "atleast_2d", "atleast_3d",
    "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like",
    "randint_like", "clone", "detach", "numel", "is_tensor", "is_floating_point",
    "is_complex", "result_type", "can_cast", "promote_types", "where", "masked_fill",
    "scatter", "index_put", "index_copy", "index_fill", "diagonal", "tril", "triu",
    "as_strided", "view_as_real", "view_as_complex", "nonzero", "argwhere", "meshgrid",
    "block_diag", "column_stack", "row_stack", "repeat_interleave", "diag_embed",
    "chunk", "is_nonzero", "is_same_size", "flatten", "ravel", "rot90", "fliplr", "flipud",
    # creation: filling memory is not arithmetic of the model
    "empty", "empty_strided", "zeros", "ones", "full", "rand", "randn", "randint",
    "randperm", "arange", "range", "linspace", "logspace", "eye", "tensor", "as_tensor",
    "asarray", "from_numpy", "scalar_tensor", "normal", "bernoulli", "multinomial",
    # checks: ``torch._assert(cond, msg)`` (torchvision's ViT and MaxViT) tests a condition
    "_assert",
)
_INIT_FUNCTIONS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
    "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_", "sparse_", "calculate_gain",
)


def _declare() -> None:
    DEFAULT.declare_zero_cost(*(getattr(Tensor, name).__get__ for name in _PROPERTIES if hasattr(Tensor, name)))
    DEFAULT.declare_zero_cost(*{getattr(Tensor, name) for name in _TENSOR_METHODS if hasattr(Tensor, name)})
    DEFAULT.declare_zero_cost(*{getattr(torch, name) for name in _TORCH_FUNCTIONS if hasattr(torch, name)})
    DEFAULT.declare_zero_cost(*(getattr(torch.nn.init, name) for name in _INIT_FUNCTIONS))
    DEFAULT.declare_zero_cost(torch._C._set_grad_enabled)


_declare()
