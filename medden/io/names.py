"""File names that are not UTF-8, as text that any output and any JSON parser takes.

On POSIX a file name is bytes; Python hands the bytes that are not UTF-8 over as lone
surrogates (``surrogateescape``), which a strict UTF-8 stream (the console, a JSON parser)
refuses.  :func:`printable` is for showing a name, :func:`escaped_name` for recording it so
that :func:`unescaped_name` gives the exact name back.
"""

from __future__ import annotations

import codecs
import os

__all__ = ["ESCAPED_NAMES", "is_utf8", "printable", "escaped_name", "unescaped_name"]

#: How :func:`escaped_name` writes a name (recorded beside such names).
ESCAPED_NAMES = ("bytes that are not UTF-8 written as \\xHH and every backslash doubled "
                 "(Python: os.fsdecode(codecs.escape_decode(name.encode())[0]))")


def is_utf8(name: str) -> bool:
    """Whether ``name`` is valid UTF-8 text (holds no escaped bytes)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """``text`` with the bytes that are not UTF-8 shown as ``\\xHH`` (for people)."""
    return text if is_utf8(text) else os.fsencode(text).decode("utf-8", "backslashreplace")


def escaped_name(name: str) -> str:
    """``name`` as valid UTF-8 text, reversibly: see :data:`ESCAPED_NAMES`."""
    raw = os.fsencode(name).replace(b"\\", b"\\\\")
    return raw.decode("utf-8", "backslashreplace")


def unescaped_name(text: str) -> str:
    """The file name :func:`escaped_name` wrote as ``text``."""
    return os.fsdecode(codecs.escape_decode(text.encode("utf-8"))[0])
