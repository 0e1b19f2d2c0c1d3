"""The stacked SkidNet → DeepAttention pipeline of the X-ray attention paper."""

from __future__ import annotations

from typing import ClassVar

from medden.pipeline import Pipeline
from medden_skidnet.deep_attention import DeepAttention
from medden_skidnet.skidnet import SkidNet

__all__ = ["SkidNetDeepAttention"]


class SkidNetDeepAttention(Pipeline):
    """SkidNet followed by DeepAttention on its output, the two stages trained one by one.

    Source: the X-ray attention paper, §4.2.3 and §5 ("aggregated model"): SkidNet is
    trained on the noisy images first; its outputs form the training inputs of
    DeepAttention, which refines them.  The stages are trained separately ("staged" recipe)
    so that neither stage's parameters affect the other's; the paper trains both with MSE.

    Parameters
    ----------
    in_channels : int
        Image channels (1 gray, 3 RGB); the output has as many.
    spatial_dims : int
        2 for images, 3 for volumes.
    skidnet_filters : tuple of int
        SkidNet's alternating widths ``(outer, inner)``.
    attention_features : tuple of int
        DeepAttention's block widths, finest first.
    """

    recipe: ClassVar[str] = "staged"

    def __init__(
        self,
        in_channels: int = 1,
        spatial_dims: int = 2,
        skidnet_filters: tuple[int, int] = (32, 64),
        attention_features: tuple[int, ...] = (6, 12, 24, 48, 96),
    ) -> None:
        super().__init__({
            "skidnet": SkidNet(in_channels, spatial_dims, filters=skidnet_filters),
            "deep_attention": DeepAttention(in_channels, spatial_dims,
                                            features=attention_features),
        })
