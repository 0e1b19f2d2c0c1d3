"""The plugin distributions a trained network needs, and what to say when one is missing.

Training records the third-party distribution (and version) of every plugin it loads -- the
pipeline, the models it builds, the noise -- in the checkpoint's ``run`` entry
(``plugins``).  A bundle lists them in ``configs/metadata.json``
(``required_packages_version``) and in the ``plugins`` of its ``network_def``.  Opening
either where one is missing then names the package to install, instead of only the plugin
name that is unknown.
"""

from __future__ import annotations

import importlib.metadata as importlib_metadata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from medden.errors import UsageError
from medden.registry import FIRST_PARTY, Entry, PluginError, normalise_distribution

__all__ = ["requirements", "missing", "require_installed", "plugins_needed"]


def requirements(entries: Iterable[Entry]) -> dict[str, str]:
    """``{distribution: version}`` of the third-party ``entries`` (medden's own left out)."""
    return dict(sorted({e.distribution: e.version for e in entries
                        if normalise_distribution(e.distribution) != FIRST_PARTY}.items()))


def _installed(distribution: str) -> bool:
    try:
        importlib_metadata.distribution(distribution)
    except importlib_metadata.PackageNotFoundError:
        return False
    return True


def missing(required: Mapping[str, str]) -> dict[str, str]:
    """The distributions of ``required`` that are not installed here."""
    return {name: version for name, version in required.items() if not _installed(name)}


def _install_hint(what: str, absent: Mapping[str, str]) -> str:
    listed = ", ".join(f"'{name}'" + (f" (version {version} was used)" if version else "")
                       for name, version in absent.items())
    return (f"{what} needs plugins from {listed}, not installed here; install "
            f"{'it' if len(absent) == 1 else 'them'}: pip install {' '.join(absent)}")


def require_installed(required: Mapping[str, str], what: str) -> None:
    """Raise unless every distribution of ``required`` is installed.

    Raises
    ------
    UsageError
        Naming the missing distributions and how to install them.
    """
    absent = missing(required)
    if absent:
        raise UsageError(_install_hint(what, absent))


@contextmanager
def plugins_needed(required: Mapping[str, str], what: str) -> Iterator[None]:
    """Reword a :class:`~medden.registry.PluginError` raised inside the block (an unknown or
    broken plugin) to name the missing distributions of ``required``, when there are any.

    Raises
    ------
    UsageError
        The plugin error with the missing distributions and how to install them.
    """
    try:
        yield
    except PluginError as exc:
        absent = missing(required)
        if not absent:
            raise
        raise UsageError(f"{_install_hint(what, absent)} ({exc})") from exc
