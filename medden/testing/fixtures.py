"""pytest fixtures for plugin authors (loaded by ``pytest_plugins = ["medden.testing"]``)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import torch

from medden.noise import make_generator
from medden.registry import Registry, registries
from medden.testing.distributions import write_distribution

__all__ = ["PluginSite", "medden_generator", "medden_registries", "medden_site"]


def _refresh_all() -> None:
    for registry in registries.values():
        registry.refresh()


class PluginSite:
    """A temporary ``site-packages`` on ``sys.path`` that fake distributions are added to.

    Parameters
    ----------
    root : Path
        The directory (already on ``sys.path``).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def add(
        self,
        name: str,
        entry_points: Mapping[str, Mapping[str, str]],
        *,
        version: str = "0.0.0",
        modules: Mapping[str, str] | None = None,
    ) -> Path:
        """Install-free "install" of a distribution; the registries see it at once.

        Takes the arguments of :func:`medden.testing.write_distribution` (without ``site``)
        and returns the ``.dist-info`` directory.
        """
        dist_info = write_distribution(
            self.root, name, entry_points, version=version, modules=modules
        )
        importlib.invalidate_caches()
        _refresh_all()
        return dist_info


@pytest.fixture
def medden_generator() -> torch.Generator:
    """A :class:`torch.Generator` seeded with 0."""
    return make_generator(0)


@pytest.fixture
def medden_registries() -> Iterator[dict[str, Registry]]:
    """The ``noise``, ``models`` and ``pipelines`` registries, refreshed before and after."""
    _refresh_all()
    yield registries
    _refresh_all()


@pytest.fixture
def medden_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginSite]:
    """A :class:`PluginSite` on ``sys.path`` for this test only.

    Everything added is gone afterwards: the path entry, the modules imported from it and
    the registry entries it contributed.
    """
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    _refresh_all()
    yield PluginSite(root)
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin and Path(origin).is_relative_to(root):
            del sys.modules[name]
    _refresh_all()
