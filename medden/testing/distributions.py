"""Installed-looking distributions on a temporary ``sys.path`` entry, and entry lookups.

:func:`write_distribution` writes what ``pip install`` leaves behind for a package that
declares entry points: a ``NAME-VERSION.dist-info`` directory with ``METADATA`` and
``entry_points.txt``, plus (optionally) module sources.  With that directory on
``sys.path`` and the registries refreshed, medden discovers the entries exactly as it
discovers an installed plugin, so a plugin (or a deliberately broken one) can be tested
without installing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from medden.registry import normalise_distribution, registries

__all__ = ["write_distribution", "plugin_entries"]


def write_distribution(
    site: str | Path,
    name: str,
    entry_points: Mapping[str, Mapping[str, str]],
    *,
    version: str = "0.0.0",
    modules: Mapping[str, str] | None = None,
) -> Path:
    """Write a distribution that looks installed when ``site`` is on ``sys.path``.

    Parameters
    ----------
    site : str or Path
        Directory playing ``site-packages`` (created if missing).
    name : str
        Distribution name, e.g. ``"acme-medden-noise"``.
    entry_points : mapping
        Entry-point group (``"medden.noise"``, ``"medden.models"``, ``"medden.pipelines"``)
        to ``{entry name: "module:attribute"}``.
    version : str
        Distribution version.
    modules : mapping, optional
        Relative **file path** (``"acme_noise.py"``, ``"acme/__init__.py"``; not a module
        name such as ``"acme.noise"``) to Python source, written under ``site``.

    Returns
    -------
    Path
        The ``.dist-info`` directory.
    """
    site = Path(site)
    dist_info = site / f"{normalise_distribution(name)}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    sections = []
    for group, entries in entry_points.items():
        lines = "".join(f"{entry} = {target}\n" for entry, target in entries.items())
        sections.append(f"[{group}]\n{lines}")
    (dist_info / "entry_points.txt").write_text("\n".join(sections))
    for relative, source in (modules or {}).items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return dist_info


def plugin_entries(distribution: str, kind: str) -> list[str]:
    """Names registered by ``distribution`` in one registry (nothing is imported).

    A name another distribution also registers is given qualified
    (``acme_medden.gaussian``), so that it reaches this distribution's entry.

    Handy to parametrize a plugin's conformance tests over everything it registers::

        @pytest.mark.parametrize("name", plugin_entries("acme-medden", "noise"))
        def test_noise_conforms(name):
            check_noise(name)

    Parameters
    ----------
    distribution : str
        Distribution name (case, ``-``, ``_`` and ``.`` do not matter).
    kind : str
        ``"noise"``, ``"models"`` or ``"pipelines"``.
    """
    wanted = normalise_distribution(distribution)
    registry = registries[kind]
    return [entry.reference for name in registry for entry in registry.candidates(name)
            if normalise_distribution(entry.distribution) == wanted]
