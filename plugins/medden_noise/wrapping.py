"""Building the noise a wrapper noise wraps (``masked``, ``clipped``)."""

from __future__ import annotations

from typing import Any

from medden.noise import Noise
from medden.registry import noise_registry
from medden.spec import Spec, parse_spec

__all__ = ["inner_noise"]


def inner_noise(noise: Spec | str, params: dict[str, Any]) -> Noise:
    """The noise a wrapper wraps: ``noise``'s SPEC with ``params`` added (they win)."""
    inner = parse_spec(noise)
    return noise_registry.create(Spec(inner.name, {**inner.params, **params}))
