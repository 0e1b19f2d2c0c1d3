"""The ``magnitude_switch`` pipeline: one pipeline for magnitude (chi) noise, one for the rest.

An MRI magnitude image is the root-sum-of-squares of its coils' complex images: its noise is
Rician (one coil) or non-central chi (several), never negative, and where there is no signal
it sits on a floor above zero (about 2.8 sigma for 8 coils).  A denoiser for such images must
take that floor away, by an amount that depends on the number of coils; a denoiser for
zero-mean noise (the papers' Gaussian, Poisson, speckle or impulse noise on the same slices)
must not, or it darkens the image.  A blind network cannot tell the two from a patch: the bias
of many coils looks like a brighter image with zero-mean noise.

What tells them apart is the image's zero: magnitude noise puts no pixel at or below zero,
while zero-mean noise on a zero background puts about half the background there (below zero,
or at zero once clipped), and so do Poisson, speckle and impulse noise on a black
background.  This pipeline counts the pixels at or below zero of each image and runs
``zero_mean`` when they are at least ``share`` of the image, ``magnitude`` otherwise.

It needs the image's zero where the data's zero is: :func:`medden.intensity.fit_intensity`
keeps it for MRI (offset 0; a percentile window would put the lower tail of the coil floor
there). Limits: a magnitude image that stores exact zeros (a masked or zero-filled border)
on at least ``share`` of its pixels goes to ``zero_mean``; an image with zero-mean noise and
almost no background (less than ``2 * share``) goes to ``magnitude``.  The branch is picked
on the whole image (:meth:`decide`), also when it is denoised tile by tile.
"""

from __future__ import annotations

import torch

from medden.pipeline import Pipeline
from medden.registry import pipeline_registry
from medden.spec import Spec, parse_spec


def share_at_or_below_zero(x: torch.Tensor) -> torch.Tensor:
    """Share of each image's values that are at or below zero: shape ``(N,)``."""
    return (x <= 0).flatten(1).to(torch.float32).mean(dim=1)


class MagnitudeSwitchPipeline(Pipeline):
    """Run ``magnitude`` on images without pixels at or below zero, ``zero_mean`` on the rest.

    Parameters
    ----------
    zero_mean : Spec
        SPEC of the pipeline for images with at least ``share`` of their pixels at or below
        zero (zero-mean noise on a zero background, clean images with a black background).
    magnitude : Spec
        SPEC of the pipeline for images with fewer (magnitude noise: Rician, chi).
    share : float
        The share of pixels at or below zero from which an image goes to ``zero_mean``.

    Raises
    ------
    ValueError
        When ``share`` is not in (0, 1).
    """

    def __init__(self, zero_mean: Spec | str = "single", magnitude: Spec | str = "single",
                 share: float = 0.01) -> None:
        if not 0.0 < share < 1.0:
            raise ValueError(f"share must be in (0, 1), got {share}")
        super().__init__({"zero_mean": pipeline_registry.create(parse_spec(zero_mean)),
                          "magnitude": pipeline_registry.create(parse_spec(magnitude))})
        self.share = float(share)
        self.zero_mean_width = int(self.stages["zero_mean"].decision_width)
        magnitude_width = int(self.stages["magnitude"].decision_width)
        self.decision_width = 1 + self.zero_mean_width + magnitude_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise each image of the batch with the branch its share of zeros picks."""
        return self._route(x, share_at_or_below_zero(x) >= self.share, None)

    @torch.jit.export
    def decide(self, x: torch.Tensor) -> torch.Tensor:
        """Per whole image: 1 for ``zero_mean``, 0 for ``magnitude``, then the branches' own
        decisions (``zero_mean``'s, then ``magnitude``'s)."""
        to_zero_mean = (share_at_or_below_zero(x) >= self.share).to(x.dtype).unsqueeze(1)
        return torch.cat([to_zero_mean, self.stages["zero_mean"].decide(x),
                          self.stages["magnitude"].decide(x)], dim=1)

    @torch.jit.export
    def forward_decided(self, x: torch.Tensor, decisions: torch.Tensor) -> torch.Tensor:
        """Denoise each image (or tile) with the branch and branch decisions :meth:`decide`
        took on its whole image."""
        return self._route(x, decisions[:, 0] > 0.5, decisions)

    def _route(self, x: torch.Tensor, to_zero_mean: torch.Tensor,
               decisions: torch.Tensor | None) -> torch.Tensor:
        """Each image to its branch; with ``decisions`` the branches use theirs, without
        they decide on ``x`` themselves (a whole image: one pass, nothing taken twice)."""
        if bool(to_zero_mean.all()):
            return self._zero_mean(x, decisions)
        if not bool(to_zero_mean.any()):
            return self._magnitude(x, decisions)
        pick = to_zero_mean.view([-1] + [1] * (x.dim() - 1))
        return torch.where(pick, self._zero_mean(x, decisions), self._magnitude(x, decisions))

    def _zero_mean(self, x: torch.Tensor, decisions: torch.Tensor | None) -> torch.Tensor:
        if decisions is None:
            return self.stages["zero_mean"](x)
        return self.stages["zero_mean"].forward_decided(
            x, decisions[:, 1:1 + self.zero_mean_width])

    def _magnitude(self, x: torch.Tensor, decisions: torch.Tensor | None) -> torch.Tensor:
        if decisions is None:
            return self.stages["magnitude"](x)
        return self.stages["magnitude"].forward_decided(
            x, decisions[:, 1 + self.zero_mean_width:])
