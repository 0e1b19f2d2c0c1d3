"""Entry-point registries for noise models, denoising models and pipelines.

Every concrete noise, network or pipeline is a plugin registered under one of three
entry-point groups (``medden.noise``, ``medden.models``, ``medden.pipelines``).  The
registries discover entries lazily (nothing is imported until an entry is asked for),
cache what they load, and never let a broken plugin break the core: a plugin that fails to
import, or whose entry point names the wrong kind of object, is reported as *broken* with the
reason, and using it raises :class:`PluginError` naming the plugin and its distribution.
"""

from __future__ import annotations

import importlib.metadata as importlib_metadata
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from medden.params import Parameter, build_kwargs, describe_parameters
from medden.spec import Spec, SpecError, parse_spec

__all__ = [
    "Entry",
    "PluginError",
    "DuplicatePluginError",
    "UnknownPluginError",
    "Registry",
    "noise_registry",
    "model_registry",
    "pipeline_registry",
    "registries",
]


class PluginError(RuntimeError):
    """A plugin could not be loaded or used."""


class DuplicatePluginError(PluginError):
    """Two installed distributions register the same name in one group."""


class UnknownPluginError(PluginError, SpecError):
    """No plugin is registered under the requested name."""


@dataclass
class Entry:
    """One registered plugin.

    Attributes
    ----------
    name : str
        Registry key (the entry-point name).
    group : str
        Entry-point group, e.g. ``"medden.noise"``.
    target : str
        The entry point's ``module:attribute`` value.
    distribution : str
        Name of the installed distribution that declares the entry point.
    conflicts : list of str
        Other distributions registering the same name (empty when the name is unique).
    """

    name: str
    group: str
    target: str
    distribution: str
    conflicts: list[str] = field(default_factory=list)
    _entry_point: Any = field(default=None, repr=False)
    _loaded: Any = field(default=None, repr=False)
    _error: str | None = field(default=None, repr=False)
    _attempted: bool = field(default=False, repr=False)

    @property
    def qualified(self) -> str:
        """``name`` with its distribution, for messages."""
        return f"'{self.name}' (from distribution '{self.distribution}')"


class Registry:
    """Lazy, cached registry filled from one entry-point group.

    Parameters
    ----------
    kind : str
        Human name of what is registered ("noise", "models", "pipelines").
    group : str
        Entry-point group to discover.
    base_type : callable returning a type
        Returns the class every entry must subclass.  A callable, so the core can name
        the base class without importing heavy modules when the registry is created.
    """

    def __init__(self, kind: str, group: str, base_type: Callable[[], type]) -> None:
        self.kind = kind
        self.group = group
        self._base_type = base_type
        self._entries: dict[str, Entry] | None = None

    # discovery -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Forget everything discovered and loaded (e.g. after installing a plugin)."""
        self._entries = None

    def entries(self) -> dict[str, Entry]:
        """All discovered entries, by name, sorted; nothing is imported."""
        if self._entries is None:
            self._entries = self._discover()
        return self._entries

    def _discover(self) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        seen: set[tuple[str, str, str]] = set()
        for dist in importlib_metadata.distributions():
            dist_name = dist.metadata["Name"] or "<unknown>"
            for ep in dist.entry_points:
                if ep.group != self.group:
                    continue
                key = (ep.name, ep.value, dist_name.lower())
                if key in seen:  # the same distribution seen twice on sys.path
                    continue
                seen.add(key)
                if ep.name in found:
                    first = found[ep.name]
                    if dist_name not in first.conflicts and dist_name != first.distribution:
                        first.conflicts.append(dist_name)
                    continue
                found[ep.name] = Entry(ep.name, self.group, ep.value, dist_name, _entry_point=ep)
        return dict(sorted(found.items()))

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return list(self.entries())

    def __contains__(self, name: object) -> bool:
        return name in self.entries()

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries())

    # loading ---------------------------------------------------------------------------
    def entry(self, name: str) -> Entry:
        """The entry registered as ``name``.

        Raises
        ------
        UnknownPluginError
            When nothing is registered under ``name`` (the message lists valid names).
        DuplicatePluginError
            When several distributions register ``name``.
        """
        entries = self.entries()
        if name not in entries:
            valid = ", ".join(entries) or "(none installed)"
            raise UnknownPluginError(f"unknown {self.kind} '{name}'; valid names: {valid}")
        entry = entries[name]
        if entry.conflicts:
            others = ", ".join(repr(d) for d in entry.conflicts)
            raise DuplicatePluginError(
                f"{self.kind} '{name}' is registered by more than one distribution: "
                f"'{entry.distribution}' and {others}; uninstall one of them"
            )
        return entry

    def load(self, name: str) -> type:
        """Import and return the class registered as ``name``.

        Raises
        ------
        PluginError
            When the plugin fails to import or is not a subclass of the registry's base
            type; the message names the plugin and its distribution.
        """
        entry = self.entry(name)
        self._try_load(entry)
        if entry._error is not None:
            raise PluginError(f"{self.kind} plugin {entry.qualified} is broken: {entry._error}")
        return entry._loaded

    def _try_load(self, entry: Entry) -> None:
        if entry._attempted:
            return
        entry._attempted = True
        try:
            obj = entry._entry_point.load()
        except Exception as exc:  # noqa: BLE001 - any plugin failure must be contained
            entry._error = f"import of '{entry.target}' failed: {type(exc).__name__}: {exc}"
            return
        base = self._base_type()
        if not (inspect.isclass(obj) and issubclass(obj, base)):
            what = obj.__name__ if inspect.isclass(obj) else type(obj).__name__
            entry._error = (
                f"'{entry.target}' is {what}, expected a subclass of "
                f"{base.__module__}.{base.__qualname__}"
            )
            return
        entry._loaded = obj

    def status(self, name: str) -> tuple[str, str]:
        """``(state, detail)`` for listing: state is ``ok``, ``broken`` or ``duplicate``."""
        try:
            cls = self.load(name)
        except UnknownPluginError:
            raise
        except DuplicatePluginError as exc:
            return "duplicate", str(exc)
        except PluginError:
            return "broken", self.entries()[name]._error or ""
        return "ok", summary_of(cls)

    def parameters(self, name: str) -> list[Parameter]:
        """Declared parameters of the plugin ``name`` (from its ``__init__`` signature)."""
        return describe_parameters(self.load(name))

    # construction ----------------------------------------------------------------------
    def create(self, spec: str | Spec | dict[str, Any], **overrides: Any) -> Any:
        """Build a plugin instance from a SPEC.

        Parameters
        ----------
        spec : str, Spec or dict
            ``"name"``, ``"name:key=value,..."``, a :class:`~medden.spec.Spec`, or a
            mapping ``{"name": ..., "params": {...}}``.
        **overrides
            Extra keyword arguments, already typed, that take precedence over the spec.

        Raises
        ------
        SpecError
            When the spec is malformed, names an unknown plugin, or gives an unknown
            parameter or a value of the wrong type, or the plugin rejects a value
            (its ``ValueError``, reworded to name the plugin).
        """
        spec = parse_spec(spec)
        cls = self.load(spec.name)
        where = f"{self.kind} '{spec.name}'"
        kwargs = build_kwargs(cls, spec.params, where=where)
        kwargs.update(overrides)
        try:
            instance = cls(**kwargs)
        except SpecError:
            raise
        except ValueError as exc:
            raise SpecError(f"{where}: {exc}") from exc
        instance.spec = Spec(spec.name, {**spec.params, **overrides})
        return instance


def summary_of(obj: Any) -> str:
    """First line of an object's docstring (its one-line summary)."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _noise_base() -> type:
    from medden.noise import Noise

    return Noise


def _model_base() -> type:
    from medden.models import Denoiser

    return Denoiser


def _pipeline_base() -> type:
    from medden.pipeline import Pipeline

    return Pipeline


noise_registry = Registry("noise", "medden.noise", _noise_base)
model_registry = Registry("models", "medden.models", _model_base)
pipeline_registry = Registry("pipelines", "medden.pipelines", _pipeline_base)

registries: dict[str, Registry] = {
    "noise": noise_registry,
    "models": model_registry,
    "pipelines": pipeline_registry,
}
