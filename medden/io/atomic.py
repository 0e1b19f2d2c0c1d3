"""Atomic file writes: a reader never sees a half-written file at the destination."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write"]


@contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for writing; move it onto ``path`` on success.

    The temporary file lives in the destination directory (so :func:`os.replace` is an
    atomic rename on the same file system), is flushed and fsync'ed, then renamed over
    ``path``.  If the body raises, the temporary file is removed and ``path`` is left as it
    was (absent, or the previous file).  The parent directory is created if needed.

    Examples
    --------
    >>> with atomic_write(Path("out.bin")) as handle:  # doctest: +SKIP
    ...     handle.write(b"data")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
