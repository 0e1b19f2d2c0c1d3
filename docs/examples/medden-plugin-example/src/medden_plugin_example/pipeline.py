"""``median_then_tiny``: a classical median pre-filter, then the tiny residual CNN."""

from __future__ import annotations

from medden.pipeline import Pipeline
from medden.registry import model_registry
from medden.spec import Spec
from medden_plugin_example.tiny_resnet import TinyResNet

__all__ = ["MedianThenTiny"]


class MedianThenTiny(Pipeline):
    """Median pre-filter (removes impulses), then a tiny residual CNN (removes the rest).

    The median stage is medden's own ``median`` model, built through the model registry as
    any installed model can be; only the network stage has weights, so training fits it to
    the median filter's output.

    Parameters
    ----------
    size : int
        Side of the median window in pixels.
    in_channels : int
        Image channels (1 gray, 3 RGB).
    spatial_dims : int
        2 for images, 3 for volumes.
    features : int
        Width of the network's hidden layers.
    blocks : int
        Number of residual units of the network.
    """

    def __init__(
        self,
        size: int = 3,
        in_channels: int = 1,
        spatial_dims: int = 2,
        features: int = 32,
        blocks: int = 4,
    ) -> None:
        super().__init__({
            "median": model_registry.create(Spec("median", {"size": size})),
            "net": TinyResNet(in_channels, spatial_dims, features, blocks),
        })
