"""Training losses, named by SPEC: ``mse``, ``l1``, ``ssim``, ``mse_ssim``, ``charbonnier``,
``log_mse``.

Each loss maps ``(prediction, target)`` batches ``(B, C, *spatial)`` in about [0, 1] to a
scalar.  Parameters follow the plugin convention (typed ``__init__`` and a numpy
``Parameters`` section), so ``mse_ssim:ssim_weight=0.5`` works in configs.
"""

from __future__ import annotations

import torch
from monai.losses import SSIMLoss
from torch import nn

from medden.params import build_kwargs
from medden.spec import Spec, SpecError, parse_spec

__all__ = ["MSELoss", "L1Loss", "SSIMDissimilarity", "MSESSIMLoss", "CharbonnierLoss",
           "LogMSELoss", "LOSSES", "build_loss"]


class MSELoss(nn.MSELoss):
    """Mean squared error (L2), the loss most papers train with."""


class L1Loss(nn.L1Loss):
    """Mean absolute error (L1 / MAE): the two-stage paper's RN loss, Noise2Noise's MAE."""


class SSIMDissimilarity(nn.Module):
    """``1 - SSIM`` with a Gaussian window (MONAI ``SSIMLoss``), data range 1.

    Parameters
    ----------
    win_size : int
        Side of the Gaussian window; patches must be at least this large.
    """

    def __init__(self, win_size: int = 11) -> None:
        super().__init__()
        self.win_size = win_size
        self._losses = nn.ModuleDict()

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``1 - mean SSIM`` over the batch."""
        dims = str(prediction.ndim - 2)
        if dims not in self._losses:
            self._losses[dims] = SSIMLoss(spatial_dims=int(dims), data_range=1.0,
                                          win_size=self.win_size)
        return self._losses[dims](prediction, target)


class MSESSIMLoss(nn.Module):
    """Weighted sum of MSE and ``1 - SSIM`` (the MSE+SSIM U-Net paper).

    Parameters
    ----------
    mse_weight : float
        Weight of the mean squared error.
    ssim_weight : float
        Weight of ``1 - SSIM``.
    win_size : int
        SSIM window side.
    """

    def __init__(self, mse_weight: float = 1.0, ssim_weight: float = 1.0,
                 win_size: int = 11) -> None:
        super().__init__()
        self.mse_weight = mse_weight
        self.ssim_weight = ssim_weight
        self.ssim = SSIMDissimilarity(win_size)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``mse_weight * MSE + ssim_weight * (1 - SSIM)``."""
        mse = torch.mean((prediction - target) ** 2)
        return self.mse_weight * mse + self.ssim_weight * self.ssim(prediction, target)


class CharbonnierLoss(nn.Module):
    """Charbonnier loss ``mean(sqrt((x - y)^2 + eps^2))``, a smooth L1.

    Parameters
    ----------
    eps : float
        Smoothing constant (on the [0, 1] intensity scale).
    """

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean Charbonnier penalty."""
        return torch.sqrt((prediction - target) ** 2 + self.eps**2).mean()


class LogMSELoss(nn.Module):
    """Mean over the images of ``10 log10(MSE)``: minus their PSNR (data range 1), averaged.

    A batch mixing noise levels is dominated by its noisiest images under MSE (an image's error
    scales with the noise variance: σ 50 weighs 625 times σ 2), so a blind network trained on a
    wide mix learns little about weak noise, the clinical case.  Averaging each image's PSNR
    instead weighs a dB gained on a weakly noisy image like one on a very noisy image, which is
    also how the benchmark tables average.

    Parameters
    ----------
    eps : float
        Added to each image's MSE before the logarithm (``1e-10``: a PSNR cap of 100 dB).
    """

    def __init__(self, eps: float = 1e-10) -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps}")
        self.eps = eps

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean of ``10 log10(MSE + eps)`` over the batch's images."""
        per_image = (prediction - target).pow(2).flatten(1).mean(dim=1)
        return 10.0 * torch.log10(per_image + self.eps).mean()


#: Loss name -> class.
LOSSES: dict[str, type[nn.Module]] = {
    "mse": MSELoss,
    "l1": L1Loss,
    "ssim": SSIMDissimilarity,
    "mse_ssim": MSESSIMLoss,
    "charbonnier": CharbonnierLoss,
    "log_mse": LogMSELoss,
}


def build_loss(spec: str | Spec | dict) -> nn.Module:
    """Build a loss from its SPEC, e.g. ``"l1"`` or ``"mse_ssim:ssim_weight=0.5"``.

    Raises
    ------
    SpecError
        Unknown loss name or bad parameter.
    """
    spec = parse_spec(spec)
    if spec.name not in LOSSES:
        raise SpecError(f"unknown loss '{spec.name}'; valid losses: {', '.join(LOSSES)}")
    cls = LOSSES[spec.name]
    return cls(**build_kwargs(cls, spec.params, where=f"loss '{spec.name}'"))
