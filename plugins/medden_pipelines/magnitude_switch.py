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

A magnitude image may store exact zeros all the same: a zero-filled border (distortion
correction), the outside of a mask or of a resampled volume. Those are solid runs of zeros
(3×3 blocks), unlike zero-mean noise, which scatters its zeros and negative values among
positive ones. So when an image's pixels at or below zero lie (all but ``share`` of the rest)
in and next to such runs, the rest decides: noise lifting it above zero (its 1st percentile
above ``floor``, a coil floor) sends the image to ``magnitude``, unless ``zero_mean``'s noise
gate would return it as clean; dim pixels near zero (a clean or speckled image fading into a
black background) keep it with ``zero_mean``. The magnitude network, seeing true black next to
the floor, would read the floor as tissue and keep it; so ``magnitude`` gets the runs filled
at the floor's level (the median of the darkest tenth of the other pixels) and its output has
them put back at zero.

It needs the image's zero where the data's zero is: :func:`medden.intensity.fit_intensity`
keeps it for MRI (offset 0; a percentile window would put the lower tail of the coil floor
there). Limits: an image with zero-mean noise and almost no background (less than
``2 * share``) goes to ``magnitude``; a single coil's floor reaches down to zero (its 1st
percentile is 0.14 σ), so a Rician image with zero runs lifts its rest above ``floor`` only
at low SNR; the filled runs are flat, and the floor next to them is taken away less well than
elsewhere (in-process on 12 held-out slices with an 8-pixel zero frame, 8-coil noise at SNR 10:
27.2 dB against 33.5 dB without the frame).  The branch is picked
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


def near_zero_runs(x: torch.Tensor) -> torch.Tensor:
    """The pixels of images ``(N, C, H, W)`` in or next to a solid run of exact zeros (a 3×3
    block of them, per channel): a zero-filled or masked part of the image; bool, same shape."""
    zeros = (x == 0).to(x.dtype)
    solid = torch.nn.functional.avg_pool2d(zeros, 3, 1, 1, count_include_pad=False) >= 1.0
    return torch.nn.functional.max_pool2d(solid.to(x.dtype), 3, 1, 1) > 0


def lifted_outside_zero_runs(x: torch.Tensor, share: float, floor: float) -> torch.Tensor:
    """Per image of ``(N, C, H, W)``: whether its pixels at or below zero lie in and next to
    solid runs of zeros (fewer than ``share`` of the other pixels are) while those other
    pixels stay above ``floor`` (their 1st percentile), as a coil floor lifts them; ``(N,)``
    bool. False for an image that is all zero runs."""
    outside = ~near_zero_runs(x)
    lifted = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for index in range(x.shape[0]):
        values = x[index][outside[index]]
        if values.numel() == 0 or float((values <= 0).to(torch.float32).mean()) >= share:
            continue
        low = torch.kthvalue(values, max(1, int(0.01 * values.numel()))).values
        lifted[index] = low > floor
    return lifted


def fill_zero_runs(x: torch.Tensor, runs: torch.Tensor) -> torch.Tensor:
    """``x`` ``(N, C, H, W)`` with the pixels ``runs`` set, per image, to the median of the
    darkest tenth of its other pixels (the level of a coil floor); images without runs as
    they are."""
    filled = x.clone()
    for index in range(x.shape[0]):
        inside = runs[index]
        values = x[index][~inside]
        if not bool(inside.any()) or values.numel() == 0:
            continue
        # the median of the darkest tenth (torch's lower median) is one order statistic
        darkest = max(1, values.numel() // 10)
        level = torch.kthvalue(values, (darkest - 1) // 2 + 1).values
        filled[index] = torch.where(inside, level, x[index])
    return filled


class MagnitudeSwitchPipeline(Pipeline):
    """Run ``magnitude`` on magnitude images (no pixel at or below zero but in zero runs),
    ``zero_mean`` on the rest.

    Parameters
    ----------
    zero_mean : Spec
        SPEC of the pipeline for images with at least ``share`` of their pixels at or below
        zero (zero-mean noise on a zero background, clean images with a black background).
    magnitude : Spec
        SPEC of the pipeline for images with fewer (magnitude noise: Rician, chi).
    share : float
        The share of pixels at or below zero from which an image goes to ``zero_mean``.
    floor : float
        For an image whose pixels at or below zero are solid runs of zeros: the least 1st
        percentile of its other pixels (normalised) that reads as a coil floor and sends it
        to ``magnitude``. 0.02 (about 5 of 255 grey levels) lies above the dimmest pixels of
        clean slices fading into a black background (up to 0.012 on the 30 held-out slices)
        and below the floor of 8 coils up to an SNR of about 100 (2.4 σ).

    Raises
    ------
    ValueError
        When ``share`` is not in (0, 1).
    """

    def __init__(self, zero_mean: Spec | str = "single", magnitude: Spec | str = "single",
                 share: float = 0.01, floor: float = 0.02) -> None:
        if not 0.0 < share < 1.0:
            raise ValueError(f"share must be in (0, 1), got {share}")
        if not 0.0 <= floor < 1.0:
            raise ValueError(f"floor must be in [0, 1), got {floor}")
        super().__init__({"zero_mean": pipeline_registry.create(parse_spec(zero_mean)),
                          "magnitude": pipeline_registry.create(parse_spec(magnitude))})
        self.share = float(share)
        self.floor = float(floor)
        self.zero_mean_width = int(self.stages["zero_mean"].decision_width)
        magnitude_width = int(self.stages["magnitude"].decision_width)
        self.decision_width = 1 + self.zero_mean_width + magnitude_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise each image of the batch with the branch its zeros pick."""
        return self._route(x, self._to_zero_mean(x, None), None)

    @torch.jit.export
    def decide(self, x: torch.Tensor) -> torch.Tensor:
        """Per whole image: 1 for ``zero_mean``, 0 for ``magnitude``, then the branches' own
        decisions (``zero_mean``'s, then ``magnitude``'s)."""
        zero_mean_decisions = self.stages["zero_mean"].decide(x)
        to_zero_mean = self._to_zero_mean(x, zero_mean_decisions).to(x.dtype).unsqueeze(1)
        return torch.cat([to_zero_mean, zero_mean_decisions,
                          self.stages["magnitude"].decide(x)], dim=1)

    def _to_zero_mean(self, x: torch.Tensor,
                      zero_mean_decisions: torch.Tensor | None) -> torch.Tensor:
        """Per image, ``(N,)`` bool: its pixels at or below zero are at least ``share`` and
        not the zero runs of a magnitude image (see the module docstring); an image
        ``zero_mean``'s gate holds clean (weight 0) stays there. ``zero_mean_decisions``:
        that branch's, when already taken."""
        to_zero_mean = share_at_or_below_zero(x) >= self.share
        if x.dim() != 4 or not bool(to_zero_mean.any()):
            return to_zero_mean
        lifted = lifted_outside_zero_runs(x, self.share, self.floor)
        if not bool(lifted.any()):
            return to_zero_mean
        if zero_mean_decisions is None:
            zero_mean_decisions = self.stages["zero_mean"].decide(x)
        if zero_mean_decisions.shape[1] > 0:  # a gated zero_mean: its gate's weight first
            lifted = lifted & (zero_mean_decisions[:, 0] > 0)
        return to_zero_mean & ~lifted

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
        """The ``magnitude`` branch, on ``x`` with its zero runs filled at the floor's level
        and put back at zero afterwards."""
        runs = torch.zeros_like(x, dtype=torch.bool)
        if x.dim() == 4:
            runs = (x == 0) & near_zero_runs(x)
        filled = fill_zero_runs(x, runs) if bool(runs.any()) else x
        if decisions is None:
            out = self.stages["magnitude"](filled)
        else:
            out = self.stages["magnitude"].forward_decided(
                filled, decisions[:, 1 + self.zero_mean_width:])
        return torch.where(runs, x, out)
