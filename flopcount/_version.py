"""The package version, in a module of its own so that exports can name it without
importing the package root (which imports everything)."""

from __future__ import annotations

__version__ = "0.1.0"
