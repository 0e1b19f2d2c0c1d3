"""Entry-point registries for noise models, denoising models and pipelines.

Every concrete noise, network or pipeline is a plugin registered under one of three
entry-point groups (``medden.noise``, ``medden.models``, ``medden.pipelines``).  The
registries discover entries lazily (nothing is imported until an entry is asked for),
cache what they load, and never let a broken plugin break the core: a plugin that fails to
import, or whose entry point names the wrong kind of object, is reported as *broken* with the
reason, and using it raises :class:`PluginError` naming the plugin and its distribution.

Names are unique per registry.  When several distributions register one name:

* medden's own entry wins; the others are *shadowed* (a :class:`ShadowedPluginWarning` is
  issued once) and stay reachable by their qualified name ``DISTRIBUTION.name`` (the
  distribution name in lower case with ``-`` and ``.`` written ``_``, e.g.
  ``acme_medden.gaussian``);
* between third-party distributions the plain name is ambiguous
  (:class:`DuplicatePluginError`); each is reachable by its qualified name.

Every entry loaded inside :func:`recording_plugins` is recorded, so that a training run or a
bundle can store which plugin distributions it needs.
"""

from __future__ import annotations

import importlib.metadata as importlib_metadata
import inspect
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from medden.params import Parameter, build_kwargs, describe_parameters
from medden.spec import Spec, SpecError, parse_spec

__all__ = [
    "Entry",
    "FIRST_PARTY",
    "PluginError",
    "DuplicatePluginError",
    "UnknownPluginError",
    "ShadowedPluginWarning",
    "Registry",
    "normalise_distribution",
    "recording_plugins",
    "noise_registry",
    "model_registry",
    "pipeline_registry",
    "registries",
]


class PluginError(RuntimeError):
    """A plugin could not be loaded or used."""


class DuplicatePluginError(PluginError):
    """Several third-party distributions (medden not among them) register the same name in
    one group, and the plain name was used."""


class UnknownPluginError(PluginError, SpecError):
    """No plugin is registered under the requested name."""


class ShadowedPluginWarning(UserWarning):
    """A third-party plugin registers a name medden itself registers; medden's entry wins."""


#: The distribution of medden's own plugins: its entries win every name collision.
FIRST_PARTY = "medden"


def normalise_distribution(name: str) -> str:
    """A distribution name as qualified names and comparisons write it: lower case, runs of
    ``-``, ``_`` and ``.`` written ``_`` (``Acme-Medden`` -> ``acme_medden``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


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
    version : str
        That distribution's version.
    conflicts : list of str
        Other third-party distributions registering the same name: the plain name is
        ambiguous (empty when it is not).
    shadowed_by : str or None
        The first-party distribution whose entry of the same name wins over this one.
    """

    name: str
    group: str
    target: str
    distribution: str
    version: str = ""
    conflicts: list[str] = field(default_factory=list)
    shadowed_by: str | None = None
    _entry_point: Any = field(default=None, repr=False)
    _loaded: Any = field(default=None, repr=False)
    _error: str | None = field(default=None, repr=False)
    _attempted: bool = field(default=False, repr=False)

    @property
    def label(self) -> str:
        """``name`` with its distribution, for messages."""
        return f"'{self.name}' (from distribution '{self.distribution}')"

    @property
    def qualified_name(self) -> str:
        """``DISTRIBUTION.name``: reaches this entry whatever else registers ``name``."""
        return f"{normalise_distribution(self.distribution)}.{self.name}"

    @property
    def reference(self) -> str:
        """The name to use in a SPEC: the plain name, or the qualified one when the plain
        name is ambiguous or reaches another distribution's entry."""
        return self.qualified_name if self.conflicts or self.shadowed_by else self.name


#: Entries loaded inside each active :func:`recording_plugins` block, innermost last.
_RECORDERS: list[list[Entry]] = []


@contextmanager
def recording_plugins() -> Iterator[list[Entry]]:
    """Record every entry loaded (by any registry) inside the block.

    Yields
    ------
    list of Entry
        Filled as entries are loaded, each once, in loading order; nested plugins (a
        pipeline building its model through the registry) are recorded too.
    """
    used: list[Entry] = []
    _RECORDERS.append(used)
    try:
        yield used
    finally:  # by identity: two recorders holding the same entries compare equal
        del _RECORDERS[next(i for i, r in enumerate(_RECORDERS) if r is used)]


def _record(entry: Entry) -> None:
    for used in _RECORDERS:
        if all(e is not entry for e in used):
            used.append(entry)


def _class_name(cls: type) -> str:
    """``module.QualName``; builtins (``object``) by their bare name."""
    return cls.__qualname__ if cls.__module__ == "builtins" else \
        f"{cls.__module__}.{cls.__qualname__}"


def _not_a_subclass(target: str, obj: Any, base: type) -> str:
    """Why ``obj`` (loaded from ``target``) is not a plugin class: what it is and its bases."""
    expected = f"expected a subclass of {_class_name(base)}"
    if not inspect.isclass(obj):
        return f"'{target}' is a {type(obj).__name__}, not a class; {expected}"
    bases = ", ".join(_class_name(b) for b in obj.__bases__)
    return f"'{target}' is class {obj.__qualname__} (a subclass of {bases}); {expected}"


class Registry:
    """Lazy, cached registry filled from one entry-point group.

    Parameters
    ----------
    kind : str
        Name of the registry, as ``medden list KIND`` writes it ("noise", "models",
        "pipelines").
    group : str
        Entry-point group to discover.
    base_type : callable returning a type
        Returns the class every entry must subclass.  A callable, so the core can name
        the base class without importing heavy modules when the registry is created.
    noun : str
        What one entry is called in messages ("noise", "model", "pipeline").
    """

    def __init__(self, kind: str, group: str, base_type: Callable[[], type], noun: str) -> None:
        self.kind = kind
        self.group = group
        self.noun = noun
        self._base_type = base_type
        self._candidates: dict[str, list[Entry]] | None = None

    # discovery -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Forget everything discovered and loaded (e.g. after installing a plugin)."""
        self._candidates = None

    def _all(self) -> dict[str, list[Entry]]:
        """Every discovered entry by name, the one the plain name reaches first."""
        if self._candidates is None:
            self._candidates = self._discover()
        return self._candidates

    def entries(self) -> dict[str, Entry]:
        """The entry each name reaches, by name, sorted; nothing is imported.

        A shadowed entry is left out (see :meth:`candidates`); an ambiguous name maps to
        one of its entries, whose :attr:`Entry.conflicts` name the others.
        """
        return {name: found[0] for name, found in self._all().items()}

    def candidates(self, name: str) -> list[Entry]:
        """Every entry registered as ``name`` (by any distribution), the winner first."""
        return list(self._all().get(name, []))

    def _discover(self) -> dict[str, list[Entry]]:
        found: dict[str, list[Entry]] = {}
        for dist in importlib_metadata.distributions():
            dist_name = dist.metadata["Name"] or "<unknown>"
            for ep in dist.entry_points:
                if ep.group != self.group:
                    continue
                same = found.setdefault(ep.name, [])
                # the same distribution seen twice on sys.path is not a collision
                if all(normalise_distribution(e.distribution) !=
                       normalise_distribution(dist_name) for e in same):
                    same.append(Entry(ep.name, self.group, ep.value, dist_name,
                                      dist.version or "", _entry_point=ep))
        return {name: self._settle(same) for name, same in sorted(found.items())}

    def _settle(self, same: list[Entry]) -> list[Entry]:
        """Order the entries of one name, winner first, and mark the collision."""
        if len(same) == 1:
            return same
        same = sorted(same, key=lambda e: normalise_distribution(e.distribution))
        first_party = [e for e in same if normalise_distribution(e.distribution) == FIRST_PARTY]
        if not first_party:
            for entry in same:
                entry.conflicts = [e.distribution for e in same if e is not entry]
            return same
        winner = first_party[0]
        others = [e for e in same if e is not winner]
        for entry in others:
            entry.shadowed_by = winner.distribution
            warnings.warn(
                f"{self.noun} '{entry.name}' of distribution '{entry.distribution}' is "
                f"shadowed by medden's own '{entry.name}'; reach it as "
                f"'{entry.qualified_name}'", ShadowedPluginWarning, stacklevel=1)
        return [winner, *others]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return list(self._all())

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if "." in name:
            return self._qualified(name) is not None
        return name in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    # loading ---------------------------------------------------------------------------
    def _qualified(self, reference: str) -> Entry | None:
        distribution, _, name = reference.rpartition(".")
        wanted = normalise_distribution(distribution)
        return next((e for e in self.candidates(name)
                     if normalise_distribution(e.distribution) == wanted), None)

    def _unknown(self, name: str) -> UnknownPluginError:
        plain = name.rpartition(".")[2]
        registered = self.candidates(plain)
        if "." in name and registered:
            where = ", ".join(f"'{e.qualified_name}'" for e in registered)
            return UnknownPluginError(f"unknown {self.noun} '{name}'; '{plain}' is registered "
                                      f"as {where}")
        valid = ", ".join(self._all()) or "(none installed)"
        return UnknownPluginError(f"unknown {self.noun} '{name}'; valid names: {valid}")

    def entry(self, name: str) -> Entry:
        """The entry registered as ``name`` or qualified name ``DISTRIBUTION.name``.

        Raises
        ------
        UnknownPluginError
            When nothing is registered under ``name`` (the message lists valid names).
        DuplicatePluginError
            When several third-party distributions register the plain ``name``.
        """
        entry = self._qualified(name) if "." in name else next(iter(self.candidates(name)), None)
        if entry is None:
            raise self._unknown(name)
        if entry.conflicts and "." not in name:
            choices = " or ".join(f"'{e.qualified_name}'" for e in self.candidates(name))
            raise DuplicatePluginError(
                f"{self.noun} '{name}' is registered by more than one distribution: "
                f"{' and '.join(repr(e.distribution) for e in self.candidates(name))}; "
                f"name the one you mean ({choices}) or uninstall the others"
            )
        return entry

    def load(self, name: str) -> type:
        """Import and return the class registered as ``name`` (plain or qualified).

        Raises
        ------
        PluginError
            When the plugin fails to import or is not a subclass of the registry's base
            type; the message names the plugin and its distribution.
        """
        entry = self.entry(name)
        self._try_load(entry)
        if entry._error is not None:
            raise PluginError(f"{self.noun} plugin {entry.label} is broken: {entry._error}")
        _record(entry)
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
            entry._error = _not_a_subclass(entry.target, obj, base)
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
            return "broken", self.entry(name)._error or ""
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
        where = f"{self.noun} '{spec.name}'"
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


noise_registry = Registry("noise", "medden.noise", _noise_base, noun="noise")
model_registry = Registry("models", "medden.models", _model_base, noun="model")
pipeline_registry = Registry("pipelines", "medden.pipelines", _pipeline_base, noun="pipeline")

registries: dict[str, Registry] = {
    "noise": noise_registry,
    "models": model_registry,
    "pipelines": pipeline_registry,
}
