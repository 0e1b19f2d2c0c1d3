"""Noise conditions of a benchmark: each noise SPEC at each level, the ablation, the curves.

A *level* is a noise standard deviation on the papers' 0-255 scale.  It reaches a noise
through the parameter the noise declares:

* ``sigma`` (gaussian, speckle, rician, poisson_gaussian, ...): ``sigma = level``;
* ``peak`` (poisson): ``peak = (255 / level)**2``, so that the noise standard deviation at
  intensity 1, ``1 / sqrt(peak)``, equals ``level / 255`` -- the same meaning ``sigma`` has
  for speckle noise (level 25 gives peak 104, about the default 100);
* a wrapper that forwards its parameters to an inner ``noise`` (``masked``) takes the
  level of its inner noise.

A noise that declares neither (salt_pepper, mixture, ...), or whose SPEC already sets the
level parameter, is *fixed*: it is run once, as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medden.errors import UsageError
from medden.noise import Noise
from medden.registry import noise_registry
from medden.spec import Spec, parse_spec

__all__ = [
    "Condition",
    "NoiseSetting",
    "CURVE_INPUT_PSNR",
    "ablation_conditions",
    "ablation_level",
    "curve_levels",
    "level_parameter",
    "parse_levels",
    "quality_conditions",
]

#: Nominal input PSNRs (dB) of the validity-range curves: 15 to 50 dB in 2.5 dB steps.
CURVE_INPUT_PSNR: tuple[float, ...] = tuple(float(p) for p in np.arange(15.0, 50.01, 2.5))


def parse_levels(text: str) -> list[float]:
    """Levels from ``"15,25,50"`` (0-255 scale), sorted and without repeats.

    Raises
    ------
    UsageError
        When a level is not a positive number.
    """
    levels: set[float] = set()
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"--levels: '{item}' is not a number") from None
        if not value > 0:
            raise UsageError(f"--levels: levels must be positive, got {item}")
        levels.add(value)
    return sorted(levels)


def _declared(name: str) -> dict[str, object]:
    return {p.name: p.default for p in noise_registry.parameters(name)}


def level_parameter(spec: Spec) -> str | None:
    """The parameter a level is written to for ``spec``, or None when the noise is fixed.

    The path is ``"sigma"`` or ``"peak"``; for a wrapper forwarding parameters to its inner
    noise it is the inner noise's parameter.  A SPEC that already sets the parameter (or
    whose inner noise sets it), or one of the parameters the noise declares as setting its
    level another way (:attr:`medden.noise.Noise.level_alternatives`, e.g. ``mri_coil``'s
    ``snr``), is fixed.
    """
    declared = _declared(spec.name)
    alternatives = getattr(noise_registry.load(spec.name), "level_alternatives", ())
    for name in ("sigma", "peak"):
        if name in declared:
            fixed = name in spec.params or any(a in spec.params for a in alternatives)
            return None if fixed else name
    if "noise" in declared:
        inner = parse_spec(spec.params.get("noise", declared["noise"]))
        name = level_parameter(inner)
        if name is not None and name not in spec.params:
            return name
    return None


def level_value(parameter: str, level: float) -> float:
    """The value of ``parameter`` giving a noise level ``level`` (0-255 scale)."""
    return level if parameter == "sigma" else (255.0 / level) ** 2


@dataclass(frozen=True)
class NoiseSetting:
    """One noise SPEC of ``--noise`` and how levels reach it.

    Attributes
    ----------
    label : str
        The SPEC as written by the user (a table column).
    spec : Spec
        The parsed SPEC.
    parameter : str or None
        Parameter a level is written to; None for a fixed noise.
    """

    label: str
    spec: Spec
    parameter: str | None

    @classmethod
    def parse(cls, text: str) -> NoiseSetting:
        """Parse one ``--noise`` SPEC and check that the noise exists."""
        spec = parse_spec(text)
        noise_registry.load(spec.name)
        return cls(text, spec, level_parameter(spec))

    def at(self, level: float | None) -> Condition:
        """The condition of this noise at ``level`` (ignored for a fixed noise)."""
        if self.parameter is None or level is None:
            return Condition(self.label, None, self.spec)
        spec = Spec(self.spec.name, {**self.spec.params,
                                     self.parameter: level_value(self.parameter, level)})
        return Condition(self.label, level, spec)


@dataclass(frozen=True)
class Condition:
    """One way of degrading the clean images.

    Attributes
    ----------
    noise : str
        Column / row label: the user's noise SPEC, ``"none"`` or ``"all combined"``.
    level : float or None
        Level on the 0-255 scale; None for fixed noises and the clean condition.
    spec : Spec or None
        The complete noise SPEC; None leaves the images clean.
    """

    noise: str
    level: float | None
    spec: Spec | None

    @property
    def key(self) -> str:
        """Stable text naming the condition (used to seed its noise)."""
        return "none" if self.spec is None else str(self.spec)

    def build(self) -> Noise | None:
        """The noise model, or None for the clean condition."""
        return None if self.spec is None else noise_registry.create(self.spec)


def quality_conditions(settings: Sequence[NoiseSetting], levels: Sequence[float]
                       ) -> list[Condition]:
    """Every level noise at every level, then every fixed noise once."""
    conditions = [s.at(level) for level in levels for s in settings if s.parameter]
    return conditions + [s.at(None) for s in settings if s.parameter is None]


def ablation_level(levels: Sequence[float]) -> float:
    """The level of the ablation: the middle one of ``levels`` (25 for 15, 25, 50)."""
    ordered = sorted(levels)
    return ordered[(len(ordered) - 1) // 2]


def ablation_conditions(settings: Sequence[NoiseSetting], level: float) -> list[Condition]:
    """The X-ray attention paper's ablation (its Table 2).

    No noise; each noise alone (level noises at ``level``, fixed ones as written); and, when
    there are several, all of them applied one after another in the order given (the
    ``mixture`` noise).
    """
    singles = [s.at(level) for s in settings]
    conditions = [Condition("none", None, None), *singles]
    if len(singles) > 1:
        combined = Spec("mixture", {"noises": [c.spec for c in singles]})
        conditions.append(Condition("all combined", level, combined))
    return conditions


def curve_levels(setting: NoiseSetting) -> list[Condition]:
    """Conditions of a validity-range curve: levels giving nominal input PSNRs of 15-50 dB.

    The nominal PSNR of level ``s`` is ``20 log10(255 / s)`` (exact for additive Gaussian
    noise on unclipped images); the curves plot the measured input PSNR.

    Raises
    ------
    UsageError
        For a fixed noise (it has no level to vary).
    """
    if setting.parameter is None:
        raise UsageError(f"noise '{setting.label}' has no level to vary for the curves")
    return [setting.at(255.0 * 10 ** (-p / 20.0)) for p in CURVE_INPUT_PSNR]
