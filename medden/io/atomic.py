"""Atomic file writes: a reader never sees a half-written file at the destination."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["TEMPORARY", "atomic_write", "temporary_path", "temporary_stem"]

#: Names :func:`temporary_path` gives: ``.NAME.XXXXXXXX.tmp`` (NAME possibly shortened:
#: :func:`temporary_stem`; the match's group 1).
TEMPORARY = re.compile(r"^\.(.+)\.[0-9a-f]{8}\.tmp$")
#: Longest file name (bytes) assumed where the file system does not say.
_NAME_MAX = 255


def _name_max(folder: Path) -> int:
    """The longest file name (bytes) ``folder``'s file system takes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no such folder yet, or no pathconf
        return _NAME_MAX


def temporary_stem(path: Path) -> str:
    """NAME in the temporary names of ``path`` (``.NAME.XXXXXXXX.tmp``): ``path``'s name,
    shortened (by characters) until the whole name fits the folder's NAME_MAX."""
    room = _name_max(path.parent) - len(".XXXXXXXX.tmp") - 1
    name = path.name
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return name


def temporary_path(path: Path) -> Path:
    """A fresh temporary name beside ``path``: ``.NAME.XXXXXXXX.tmp``.

    NAME is :func:`temporary_stem`, so a file whose own name is at the limit can still be
    written.
    """
    return path.with_name(f".{temporary_stem(path)}.{secrets.token_hex(4)}.tmp")


@contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for writing; move it onto ``path`` on success.

    The temporary file (:func:`temporary_path`) lives in the destination directory (so
    :func:`os.replace` is an atomic rename on the same file system), is flushed and
    fsync'ed, then renamed over ``path``.  If the body raises, the temporary file is
    removed and ``path`` is left as it was (absent, or the previous file).  The parent
    directory is created if needed.

    Examples
    --------
    >>> with atomic_write(Path("out.bin")) as handle:  # doctest: +SKIP
    ...     handle.write(b"data")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with open(tmp, "xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
