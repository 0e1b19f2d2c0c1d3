"""What every conformance check shares: building the plugin under test and reporting."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch

from medden.params import describe_parameters
from medden.registry import Registry, summary_of
from medden.spec import Spec, parse_spec

__all__ = ["ConformanceError", "Subject", "resolve", "check_documented", "assert_same"]


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

    def build(self, **overrides: Any) -> Any:
        """A fresh instance with the subject's parameters and ``overrides``."""
        if self.spec is not None:
            return self.registry.create(self.spec, **overrides)
        return self.cls(**overrides)


def resolve(target: Any, registry: Registry, base: type) -> Subject:
    """Turn a registry name / SPEC, a plugin class or an instance into a :class:`Subject`.

    A name or SPEC is built through ``registry`` (so its entry point is exercised and must
    load); a class is built with its defaults; an instance is taken as it is.

    Raises
    ------
    ConformanceError
        When the entry is broken or the object is not a subclass of ``base``.
    """
    if isinstance(target, str | Spec | dict):
        spec = parse_spec(target)
        label = f"{registry.kind} '{spec.name}'"
        state, detail = registry.status(spec.name)
        if state != "ok":
            raise ConformanceError(f"{label}: entry point is {state}: {detail}")
        instance = registry.create(spec)
        return Subject(label, type(instance), instance, spec, registry)
    if inspect.isclass(target):
        if not issubclass(target, base):
            raise ConformanceError(f"{target.__qualname__} is not a subclass of {base.__name__}")
        return Subject(target.__qualname__, target, target(), None, registry)
    if not isinstance(target, base):
        raise ConformanceError(f"{type(target).__qualname__} is not a {base.__name__}")
    return Subject(type(target).__qualname__, type(target), target, None, registry)


def check_documented(subject: Subject) -> None:
    """One-line summary; every parameter typed, defaulted and described in the docstring.

    These are what ``medden list NAME`` prints and what lets ``--noise NAME`` /
    ``--model NAME`` work without parameters.
    """
    summary = summary_of(subject.cls)
    subject.expect(bool(summary), "the class docstring needs a one-line summary")
    for param in describe_parameters(subject.cls):
        where = f"parameter '{param.name}'"
        subject.expect(param.type_name != "any", f"{where} needs a type annotation")
        subject.expect(not param.required, f"{where} needs a default value")
        subject.expect(
            bool(param.help),
            f"{where} is not described in the class docstring's 'Parameters' section",
        )


def assert_same(subject: Subject, first: torch.Tensor, second: torch.Tensor, what: str,
                atol: float = 0.0) -> None:
    """Raise unless the two tensors have one shape and are equal up to ``atol``."""
    subject.expect(first.shape == second.shape, f"{what}: shapes {tuple(first.shape)} and "
                   f"{tuple(second.shape)} differ")
    difference = (first.double() - second.double()).abs().max().item() if first.numel() else 0.0
    subject.expect(difference <= atol, f"{what}: outputs differ by up to {difference:.3g}")
