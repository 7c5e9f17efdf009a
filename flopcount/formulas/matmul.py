"""Operator formulas of the matmul family (filled in by the formula-library work)."""

from __future__ import annotations
