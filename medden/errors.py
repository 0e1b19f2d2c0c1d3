"""Exceptions shared by the core."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(ValueError):
    """The user asked for something impossible (bad path, option or value): exit status 2."""
