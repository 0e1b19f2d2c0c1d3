"""What every conformance check shares: building the plugin under test and reporting."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from medden.params import describe_parameters
from medden.registry import Registry, summary_of
from medden.spec import Spec, parse_spec

__all__ = ["ConformanceError", "Subject", "resolve", "assert_same", "check_declarations"]

T = TypeVar("T")


class ConformanceError(AssertionError):
    """A plugin breaks the medden contract; the message names the plugin and the rule."""


@dataclass
class Subject:
    """The plugin under test.

    Attributes
    ----------
    label : str
        How messages name it, e.g. ``noise 'stripe'`` or ``StripeNoise``.
    cls : type
        Its class.
    instance : Any
        An instance built from :attr:`spec` (or given by the caller).
    spec : Spec or None
        The SPEC it was built from, when it came from the registry.
    registry : Registry
        The registry of its kind (used to rebuild it from a SPEC).
    """

    label: str
    cls: type
    instance: Any
    spec: Spec | None
    registry: Registry

    def fail(self, message: str) -> ConformanceError:
        """A :class:`ConformanceError` naming this plugin."""
        return ConformanceError(f"{self.label}: {message}")

    def expect(self, condition: bool, message: str) -> None:
        """Raise :meth:`fail` ``(message)`` unless ``condition`` holds."""
        if not condition:
            raise self.fail(message)

    def run(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the plugin's code; an exception it raises becomes a ConformanceError."""
        try:
            return function(*args, **kwargs)
        except ConformanceError:
            raise
        except Exception as exc:  # noqa: BLE001 - any plugin failure is a broken rule
            raise self.fail(f"{what}: raised {type(exc).__name__}: {exc}") from exc

    def build(self, **overrides: Any) -> Any:
        """A fresh instance with the subject's parameters and ``overrides``."""
        if self.spec is not None:
            return self.run(f"building {self.spec} {overrides or ''}".rstrip(),
                            self.registry.create, self.spec, **overrides)
        return self.run(f"building with {overrides or 'defaults'}", self.cls, **overrides)


def _check_documented(label: str, cls: type) -> None:
    """One-line summary; every parameter typed, defaulted and described in the docstring.

    These are what ``medden list NAME`` prints and what lets ``--noise NAME`` /
    ``--model NAME`` work without parameters.
    """
    if not summary_of(cls):
        raise ConformanceError(f"{label}: the class docstring needs a one-line summary")
    for param in describe_parameters(cls):
        where = f"{label}: parameter '{param.name}'"
        if param.type_name == "any":
            raise ConformanceError(f"{where} needs a type annotation")
        if param.required:
            raise ConformanceError(f"{where} needs a default value")
        if not param.help:
            raise ConformanceError(
                f"{where} is not described in the class docstring's 'Parameters' section")


def resolve(target: Any, registry: Registry, base: type) -> Subject:
    """Turn a registry name / SPEC, a plugin class or an instance into a :class:`Subject`.

    A name or SPEC is built through ``registry`` (so its entry point is exercised and must
    load); a class is built with its defaults; an instance is taken as it is (and rebuilt,
    when a check needs a fresh one, from the SPEC the registry gave it, else from its class
    with defaults).  The class's documentation is checked before anything is built.

    Raises
    ------
    ConformanceError
        When the entry is broken, the object is not a ``base``, its summary or a
        parameter's type, default or description is missing, or building it fails.
    """
    if isinstance(target, str | Spec | dict):
        spec = parse_spec(target)
        label = f"{registry.noun} '{spec.name}'"
        state, detail = registry.status(spec.name)
        if state != "ok":
            raise ConformanceError(f"{label}: entry point is {state}: {detail}")
        cls = registry.load(spec.name)
        instance = None
    elif inspect.isclass(target):
        if not issubclass(target, base):
            raise ConformanceError(f"{target.__qualname__} is not a subclass of {base.__name__}")
        cls, label, spec, instance = target, target.__qualname__, None, None
    elif isinstance(target, base):
        cls, label, spec, instance = type(target), type(target).__qualname__, target.spec, target
    else:
        raise ConformanceError(f"{type(target).__qualname__} is not a {base.__name__}")
    _check_documented(label, cls)
    subject = Subject(label, cls, instance, spec, registry)
    if instance is None:
        subject.instance = subject.build()
    return subject


def _counts(value: Any, allowed: Callable[[int], bool]) -> bool:
    """A non-empty tuple (or list) of ints that are all ``allowed``."""
    return isinstance(value, tuple | list) and bool(value) and all(
        isinstance(v, int) and not isinstance(v, bool) and allowed(v) for v in value)


#: Declaration -> (is the value valid, what a valid value is).
_DECLARATIONS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "spatial_dims": (lambda v: _counts(v, lambda d: d in (2, 3)), "a non-empty tuple from (2, 3)"),
    "channels": (lambda v: v is None or _counts(v, lambda c: c > 0),
                 "None or a non-empty tuple of positive channel counts"),
}


def check_declarations(subject: Subject, owner: Any, where: str = "") -> None:
    """``owner.spatial_dims`` and ``owner.channels`` are valid declarations.

    ``owner`` is the plugin class or a built instance: an instance attribute of the same
    name (``self.spatial_dims = spatial_dims`` in ``__init__``) hides the class declaration
    from training, inference and benchmarks, which read it from the instance.

    Raises
    ------
    ConformanceError
        Naming the declaration, its value and, when the instance set it, that cause.
    """
    for name, (valid, rule) in _DECLARATIONS.items():
        value = getattr(owner, name, None)
        if valid(value):
            continue
        stored = not inspect.isclass(owner) and name in vars(owner)
        cause = (f" (__init__ stores self.{name} on the instance, which hides the class "
                 "declaration: keep the built value under another name, e.g. self.dims)"
                 if stored else "")
        raise subject.fail(f"{where}{name} must be {rule}, got {value!r}{cause}")


def assert_same(subject: Subject, first: torch.Tensor, second: torch.Tensor, what: str,
                atol: float = 0.0) -> None:
    """Raise unless the two tensors have one shape and are equal up to ``atol``."""
    subject.expect(first.shape == second.shape, f"{what}: shapes {tuple(first.shape)} and "
                   f"{tuple(second.shape)} differ")
    difference = (first.double() - second.double()).abs().max().item() if first.numel() else 0.0
    subject.expect(difference <= atol, f"{what}: outputs differ by up to {difference:.3g}")
