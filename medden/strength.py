"""Denoising strength: how much of the denoised image replaces the original.

``out = x + S * (denoised - x)``: ``S = 1`` is the denoiser's output, ``S = 0`` the input
unchanged, values between keep part of the original texture (what vendors sell as Low /
Medium / High).  The blend is done on the normalised image, before the intensities are
mapped back to the file's units.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["parse_strength", "blend", "describe"]


def parse_strength(text: str) -> float:
    """``--strength`` as a float in [0, 1].

    Raises
    ------
    argparse.ArgumentTypeError
        When ``text`` is not a number in [0, 1].
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def blend(original: torch.Tensor, denoised: torch.Tensor, strength: float) -> torch.Tensor:
    """``original + strength * (denoised - original)``, in ``denoised``'s storage.

    ``strength`` 1 returns ``denoised`` itself and 0 a copy of ``original``, exactly.
    """
    if strength == 1.0:
        return denoised
    if strength == 0.0:
        return denoised.copy_(original)
    return denoised.sub_(original).mul_(strength).add_(original)


def describe(label: str, strength: float) -> str:
    """``label`` with the strength when it is not 1, e.g. ``"median:size=3, strength 0.5"``."""
    return label if strength == 1.0 else f"{label}, strength {strength:g}"
