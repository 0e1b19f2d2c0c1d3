"""Full-reference image quality metrics: MSE, PSNR, SSIM, VIFP and ΔE (CIEDE2000).

Every metric compares a reference image with a test image of the same shape, given as
numpy arrays or torch tensors, and returns a Python ``float``.  SSIM, VIFP and ΔE take one
image, channel first: ``(C, H, W)`` or ``(C, D, H, W)``; MSE and PSNR take any shape.
Multi-channel scores are computed per channel and averaged (ΔE compares colours).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

__all__ = ["mse", "psnr", "ssim", "vifp", "delta_e", "compute_all", "ct_metrics",
           "foreground_psnr", "BODY_HU", "SOFT_TISSUE_WINDOW", "FOREGROUND"]

ArrayLike = np.ndarray | torch.Tensor

#: Side of SSIM's Gaussian window (sigma 1.5, truncated at 3.5 sigma).
SSIM_WINDOW = 11
#: Smallest height and width VIFP's four scales fit in.
VIFP_MIN_SIZE = 41
_VIFP_SCALES = 4
_VIFP_NOISE_VAR = 2.0  # variance of the visual-noise channel, 0-255 intensities
_EPS = 1e-10


def _as_array(image: ArrayLike) -> np.ndarray:
    if torch.is_tensor(image):
        image = image.detach().cpu().numpy()
    return np.asarray(image, dtype=np.float64)


def _pair(reference: ArrayLike, test: ArrayLike, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 arrays; :class:`ValueError` when their shapes differ."""
    ref, tst = _as_array(reference), _as_array(test)
    if ref.shape != tst.shape:
        raise ValueError(
            f"{metric}: reference and test images must have the same shape, "
            f"got {ref.shape} and {tst.shape}"
        )
    return ref, tst


def _require_image(image: np.ndarray, metric: str, min_size: int = 1) -> None:
    """Check for one ``(C, H, W)`` or ``(C, D, H, W)`` image with spatial sizes >= min_size."""
    if image.ndim not in (3, 4):
        raise ValueError(
            f"{metric} expects one image (C, H, W) or (C, D, H, W), got shape {image.shape}"
        )
    if min(image.shape[1:]) < min_size:
        raise ValueError(
            f"{metric} needs every spatial size >= {min_size}, got shape {image.shape}"
        )


def _require_range(data_range: float) -> None:
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")


def mse(reference: ArrayLike, test: ArrayLike) -> float:
    """Mean squared error between two images of one shape."""
    ref, tst = _pair(reference, test, "mse")
    return float(np.mean((ref - tst) ** 2))


def psnr(reference: ArrayLike, test: ArrayLike, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range**2 / MSE)``.

    Parameters
    ----------
    reference, test : numpy.ndarray or torch.Tensor
        Images of one shape.
    data_range : float
        Distance between the smallest and largest possible intensity (1 for [0, 1]).

    Returns
    -------
    float
        PSNR in dB; ``inf`` for identical images.
    """
    _require_range(data_range)
    error = mse(reference, test)
    return math.inf if error == 0 else 10.0 * math.log10(data_range**2 / error)


def ssim(reference: ArrayLike, test: ArrayLike, data_range: float) -> float:
    """Structural similarity (Wang et al. 2004), per channel and averaged.

    Gaussian-weighted local statistics (window 11, sigma 1.5, population covariances), in
    2D or 3D; the mean is taken away from the borders the window does not cover.  The
    same as ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`` per channel.  A volume with fewer than 11 slices (a
    short DICOM series) is scored slice by slice in 2D and the slices averaged.

    Parameters
    ----------
    reference, test : numpy.ndarray or torch.Tensor
        One image each, ``(C, H, W)`` or ``(C, D, H, W)``, height and width >= 11.
    data_range : float
        Distance between the smallest and largest possible intensity (1 for [0, 1]).
    """
    _require_range(data_range)
    ref, tst = _pair(reference, test, "ssim")
    if ref.ndim == 4 and ref.shape[1] < SSIM_WINDOW:  # too few slices for a 3-D window
        ref, tst = (a.reshape(-1, *a.shape[2:]) for a in (ref, tst))
    _require_image(ref, "ssim", SSIM_WINDOW)
    scores = [
        structural_similarity(
            r, t, data_range=data_range, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )
        for r, t in zip(ref, tst, strict=True)
    ]
    return float(np.mean(scores))


def _gaussian_taps(size: int) -> np.ndarray:
    """Normalised 1D Gaussian of ``size`` taps and standard deviation ``size / 5``."""
    offsets = np.arange(size) - (size - 1) / 2
    taps = np.exp(-(offsets**2) / (2 * (size / 5) ** 2))
    return taps / taps.sum()


def _local_mean(plane: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable Gaussian average of a 2D plane where the window fits ('valid' region)."""
    margin = len(taps) // 2
    for axis in range(plane.ndim):
        plane = ndimage.correlate1d(plane, taps, axis=axis, mode="nearest")
    return plane[margin:-margin, margin:-margin]


def _visual_information(reference: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """Information (test, reference) the visual channel extracts from one 2D plane.

    Pixel-domain VIF (Sheikh & Bovik 2006): at each scale, local Gaussian statistics give
    the gain ``g`` and additive noise variance of the distortion channel ``test = g ref +
    v``; the information is summed over pixels and scales.
    """
    info_test = info_ref = 0.0
    for scale in range(_VIFP_SCALES):
        taps = _gaussian_taps(2 ** (_VIFP_SCALES - scale) + 1)
        if scale > 0:  # low-pass and subsample by 2
            reference = _local_mean(reference, taps)[::2, ::2]
            test = _local_mean(test, taps)[::2, ::2]
        mu_ref, mu_test = _local_mean(reference, taps), _local_mean(test, taps)
        var_ref = np.maximum(_local_mean(reference**2, taps) - mu_ref**2, 0.0)
        var_test = np.maximum(_local_mean(test**2, taps) - mu_test**2, 0.0)
        cov = _local_mean(reference * test, taps) - mu_ref * mu_test

        gain = cov / (var_ref + _EPS)
        noise_var = var_test - gain * cov
        flat_ref = var_ref < _EPS  # no signal: all of the test variance is noise
        gain = np.where(flat_ref, 0.0, gain)
        noise_var = np.where(flat_ref, var_test, noise_var)
        var_ref = np.where(flat_ref, 0.0, var_ref)
        flat_test = var_test < _EPS  # nothing left of the signal
        gain = np.where(flat_test, 0.0, gain)
        noise_var = np.where(flat_test, 0.0, noise_var)
        inverted = gain < 0  # negative gains carry no information
        noise_var = np.where(inverted, var_test, noise_var)
        gain = np.where(inverted, 0.0, gain)
        noise_var = np.maximum(noise_var, _EPS)

        info_test += float(
            np.sum(np.log10(1 + gain**2 * var_ref / (noise_var + _VIFP_NOISE_VAR)))
        )
        info_ref += float(np.sum(np.log10(1 + var_ref / _VIFP_NOISE_VAR)))
    return info_test, info_ref


def vifp(reference: ArrayLike, test: ArrayLike, data_range: float = 1.0) -> float:
    """Pixel-domain visual information fidelity (VIFP, Sheikh & Bovik 2006).

    The ratio of the information the human visual system extracts from the test image to
    the information it extracts from the reference, over four scales (Gaussian windows of
    17, 9, 5 and 3 pixels, sigma = size / 5; subsampling by 2 between scales), with visual
    noise variance 2 on the 0-255 scale.  1 for identical images, lower for distorted
    ones (above 1 for contrast enhancement).  Per channel, then averaged.  Volumes are
    scored slice by slice (axial ``D`` slices) with the information of all slices summed
    before the ratio.  ``nan`` when the reference has no texture at all (nothing to see).

    Parameters
    ----------
    reference, test : numpy.ndarray or torch.Tensor
        One image each, ``(C, H, W)`` or ``(C, D, H, W)``, height and width >= 41.
    data_range : float
        Intensity range of the images (1 for [0, 1]); they are rescaled to 0-255.
    """
    _require_range(data_range)
    ref, tst = _pair(reference, test, "vifp")
    _require_image(ref, "vifp")
    if min(ref.shape[-2:]) < VIFP_MIN_SIZE:
        raise ValueError(
            f"vifp needs height and width >= {VIFP_MIN_SIZE}, got shape {ref.shape}"
        )
    scale = 255.0 / data_range
    scores = []
    for ref_channel, test_channel in zip(ref * scale, tst * scale, strict=True):
        planes = zip(ref_channel.reshape(-1, *ref.shape[-2:]),
                     test_channel.reshape(-1, *ref.shape[-2:]), strict=True)
        info = np.array([_visual_information(r, t) for r, t in planes]).sum(axis=0)
        scores.append(info[0] / info[1] if info[1] > 0 else math.nan)
    return float(np.mean(scores))


def delta_e(reference: ArrayLike, test: ArrayLike) -> float:
    """Mean CIEDE2000 colour difference between two RGB images in [0, 1].

    Values are clipped to [0, 1] (displayable colours) before conversion to CIELAB.

    Parameters
    ----------
    reference, test : numpy.ndarray or torch.Tensor
        One RGB image each, ``(3, H, W)`` or ``(3, D, H, W)``.
    """
    ref, tst = _pair(reference, test, "delta_e")
    _require_image(ref, "delta_e")
    if ref.shape[0] != 3:
        raise ValueError(f"delta_e needs RGB images (3 channels), got shape {ref.shape}")
    lab_ref = rgb2lab(np.clip(ref, 0.0, 1.0), channel_axis=0)
    lab_test = rgb2lab(np.clip(tst, 0.0, 1.0), channel_axis=0)
    return float(np.mean(deltaE_ciede2000(lab_ref, lab_test, channel_axis=0)))


def compute_all(reference: ArrayLike, test: ArrayLike, data_range: float) -> dict[str, float]:
    """Every metric for one image pair.

    Parameters
    ----------
    reference, test : numpy.ndarray or torch.Tensor
        One image each, ``(C, H, W)`` or ``(C, D, H, W)``, intensities in
        ``[0, data_range]``.
    data_range : float
        Intensity range (1 for [0, 1]).

    Returns
    -------
    dict of str to float
        ``mse``, ``psnr``, ``ssim`` and ``vifp``, plus ``delta_e`` for 3-channel images
        (computed on the images divided by ``data_range``).
    """
    ref, tst = _pair(reference, test, "compute_all")
    scores = {
        "mse": mse(ref, tst),
        "psnr": psnr(ref, tst, data_range),
        "ssim": ssim(ref, tst, data_range),
        "vifp": vifp(ref, tst, data_range),
    }
    if ref.shape[0] == 3:
        scores["delta_e"] = delta_e(ref / data_range, tst / data_range)
    return scores


#: Pixels of the reference above this many HU are the body (air and lung are below).
BODY_HU = -500.0
#: The clinical soft-tissue display window (level, width) in HU, as ldct-benchmark reports.
SOFT_TISSUE_WINDOW = (40.0, 400.0)


def ct_metrics(reference_hu: ArrayLike, test_hu: ArrayLike) -> dict[str, float]:
    """CT metrics in Hounsfield units: RMSE inside the body and PSNR/SSIM in the W400/L40 window.

    Parameters
    ----------
    reference_hu, test_hu : numpy.ndarray or torch.Tensor
        One CT image each, ``(C, H, W)`` or ``(C, D, H, W)``, in HU.

    Returns
    -------
    dict of str to float
        ``rmse_hu``: root-mean-square error in HU over the pixels where the reference is above
        :data:`BODY_HU` (NaN when there are none); ``psnr_w400`` and ``ssim_w400``: PSNR and
        SSIM of both images clipped to the soft-tissue window :data:`SOFT_TISSUE_WINDOW` and
        mapped to [0, 1] (what a radiologist sees on screen).
    """
    ref, tst = _pair(reference_hu, test_hu, "ct_metrics")
    body = ref > BODY_HU
    rmse = float(np.sqrt(np.mean((ref[body] - tst[body]) ** 2))) if body.any() else math.nan
    level, width = SOFT_TISSUE_WINDOW
    low = level - width / 2

    def window(image: np.ndarray) -> np.ndarray:
        return np.clip((image - low) / width, 0.0, 1.0)

    return {"rmse_hu": rmse, "psnr_w400": psnr(window(ref), window(tst), 1.0),
            "ssim_w400": ssim(window(ref), window(tst), 1.0)}


#: Normalised intensity above which a pixel of the reference is foreground (tissue, cells)
#: for :func:`foreground_psnr`: MRI background and fluorescence background lie below it.
FOREGROUND = 0.1


def foreground_psnr(reference: ArrayLike, test: ArrayLike, data_range: float = 1.0
                    ) -> float:
    """PSNR (dB) over the foreground only: the pixels where the reference (its channel mean)
    exceeds :data:`FOREGROUND` times ``data_range``.

    Where background is a large share of an image (outside the head in MRI, between the cells
    in fluorescence microscopy), whole-image PSNR mostly measures how well the background is
    cleaned; this one measures the tissue.  NaN when the reference has no foreground.
    """
    ref, tst = _pair(reference, test, "foreground_psnr")
    mask = np.broadcast_to(ref.mean(axis=0, keepdims=True) > FOREGROUND * data_range, ref.shape)
    if not mask.any():
        return math.nan
    error = float(np.mean((ref[mask] - tst[mask]) ** 2))
    return math.inf if error == 0 else 10.0 * math.log10(data_range**2 / error)
