"""Formulas of the conv family (filled in by the formula-library work)."""

from __future__ import annotations
