"""What the baseline networks share: checking the requested dimensionality."""

from __future__ import annotations

__all__ = ["check_spatial_dims"]


def check_spatial_dims(cls: type, spatial_dims: int) -> None:
    """Raise ``ValueError`` unless ``spatial_dims`` is one of ``cls.spatial_dims``."""
    supported = cls.spatial_dims
    if spatial_dims not in supported:
        raise ValueError(f"{cls.__name__}: spatial_dims must be one of {supported}, "
                         f"got {spatial_dims}")
