"""Exceptions shared by the core."""

from __future__ import annotations

__all__ = ["INTERRUPTS", "UsageError"]


class UsageError(ValueError):
    """The user asked for something impossible (bad path, option or value): exit status 2."""


#: What stops a batch; anything else a file raises is that file's failure, ``BaseException``
#: subclasses included (a Rust decoder's ``pyo3_runtime.PanicException`` is one).
INTERRUPTS = (KeyboardInterrupt, SystemExit)
