"""Random draws shared by the noise plugins.

Every draw happens on the CPU with the caller's :class:`torch.Generator` (so the same seed
gives the same noise on any device) and is then moved to the batch's device and dtype.
Noise levels are on the papers' 0-255 scale.
"""

from __future__ import annotations

import torch

__all__ = [
    "pixel_shape",
    "standard_normal",
    "uniform",
    "per_image",
    "check_level_range",
    "draw_levels",
]


def _draw_dtype(like: torch.Tensor) -> torch.dtype:
    return like.dtype if torch.is_floating_point(like) else torch.float32


def pixel_shape(batch: torch.Tensor) -> tuple[int, ...]:
    """``(B, 1, *spatial)``: one value per pixel (voxel), shared by all channels."""
    return (batch.shape[0], 1, *batch.shape[2:])


def standard_normal(
    shape: tuple[int, ...], generator: torch.Generator, like: torch.Tensor
) -> torch.Tensor:
    """N(0, 1) values of ``shape`` on ``like``'s device and dtype."""
    values = torch.randn(shape, generator=generator, dtype=_draw_dtype(like))
    return values.to(like.device)


def uniform(shape: tuple[int, ...], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """U[0, 1) values of ``shape`` on ``like``'s device and dtype."""
    values = torch.rand(shape, generator=generator, dtype=_draw_dtype(like))
    return values.to(like.device)


def per_image(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape one value per image ``(B,)`` to broadcast over ``like`` ``(B, C, *spatial)``."""
    shape = (like.shape[0],) + (1,) * (like.ndim - 1)
    return values.reshape(shape).to(device=like.device, dtype=_draw_dtype(like))


def check_level_range(low: float, high: float | None, name: str) -> None:
    """Validate a fixed level ``low`` or a range ``[low, high]``.

    Raises
    ------
    ValueError
        When ``low`` is negative or ``high`` is below ``low``.
    """
    if low < 0:
        raise ValueError(f"{name} must be >= 0, got {low}")
    if high is not None and high < low:
        raise ValueError(f"{name}_max ({high}) must be >= {name} ({low})")


def draw_levels(
    low: float, high: float | None, batch: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Per-image standard deviations on the [0, 1] scale, broadcastable over ``batch``.

    Parameters
    ----------
    low : float
        Level on the 0-255 scale; the fixed level when ``high`` is None.
    high : float or None
        Upper end of the range: each image draws its level from U(``low``, ``high``).
    batch : torch.Tensor
        ``(B, C, *spatial)`` batch the levels are for.
    generator : torch.Generator
        Source of randomness (used only when ``high`` is given).

    Returns
    -------
    torch.Tensor
        Shape ``(B, 1, ..., 1)``, values divided by 255.
    """
    size = batch.shape[0]
    if high is None:
        levels = torch.full((size,), float(low), dtype=torch.float64)
    else:
        levels = low + (high - low) * torch.rand(size, generator=generator, dtype=torch.float64)
    return per_image(levels / 255.0, batch)
