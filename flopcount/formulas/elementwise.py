"""Operator formulas of the elementwise family (filled in by the formula-library work)."""

from __future__ import annotations
