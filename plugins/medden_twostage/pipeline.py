"""The ``two_stage`` pipeline: noise estimation (NEN) then noise-guided reconstruction (RN)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch

from medden.pipeline import Pipeline
from medden.registry import model_registry
from medden.spec import Spec
from medden_twostage.nets import NoiseEstimationNet, ReconstructionNet

_NEN = Spec("nen")
_RN = Spec("rn")


class TwoStagePipeline(Pipeline):
    """Two-stage denoiser with self-guided noise attention: ``rn(x, nen(x))``.

    Stage ``nen`` estimates the residual noise of the noisy image, stage ``rn`` reconstructs
    the clean image from the noisy image and that estimate.  The stages are trained
    separately (recipe ``two_stage``): NEN with MSE against the true noise, RN with L1
    against the clean image (§II-B.3).  Source: Sharif, Naqvi and Loh, "Two-stage Deep
    Denoising with Self-guided Noise Attention for Multimodal Medical Images".

    Parameters
    ----------
    nen : Spec
        SPEC of the stage-I network (a ``nen`` model), e.g. ``(nen:features=48)``.
    rn : Spec
        SPEC of the stage-II network (an ``rn`` model).
    in_channels : int
        Image channels; given to both stages (overrides their SPECs).
    spatial_dims : int
        2 for images, 3 for volumes; given to both stages (overrides their SPECs).
    """

    recipe: ClassVar[str] = "two_stage"
    stage_losses: ClassVar[Mapping[str, str]] = {"nen": "mse", "rn": "l1"}

    def __init__(self, nen: Spec = _NEN, rn: Spec = _RN, in_channels: int = 1,
                 spatial_dims: int = 2) -> None:
        shared = {"in_channels": in_channels, "spatial_dims": spatial_dims}
        stages = {"nen": model_registry.create(nen, **shared),
                  "rn": model_registry.create(rn, **shared)}
        for name, expected in (("nen", NoiseEstimationNet), ("rn", ReconstructionNet)):
            if not isinstance(stages[name], expected):
                raise TypeError(f"stage '{name}' must be a {expected.__name__}, "
                                f"got {type(stages[name]).__name__}")
        super().__init__(stages)

    def estimate_noise(self, x: torch.Tensor) -> torch.Tensor:
        """Stage I: the residual noise of noisy ``x`` (same shape)."""
        return self.stages["nen"](x)

    def reconstruct(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Stage II: the clean image from noisy ``x`` and its estimated ``noise``."""
        return self.stages["rn"](x, noise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise ``x``: ``reconstruct(x, estimate_noise(x))``."""
        return self.reconstruct(x, self.estimate_noise(x))
