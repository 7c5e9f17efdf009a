"""Operator formulas of the reduction family (filled in by the formula-library work)."""

from __future__ import annotations
