"""The quality loop: every image under every condition through every denoiser, scored.

Each image gets its noise from a generator seeded by the run's seed, the image key and the
condition, so the same command gives the same noise (whatever the order or the other
options), and every denoiser sees the same noisy image.  Denoisers get the noisy image as
drawn (it may leave [0, 1], as in training); outputs are clipped to [0, 1] -- the range an
image file stores -- before scoring against the clean image with a data range of 1.
Networks see the whole image at once (no tiling).
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from threadpoolctl import threadpool_limits
from torch import nn
from tqdm import tqdm

from medden.bench.conditions import Condition
from medden.bench.data import BenchImage
from medden.bench.methods import Method
from medden.bench.oracle import OracleTuner
from medden.commands._common import item_generator
from medden.intensity import IntensityMap
from medden.metrics import FOREGROUND, compute_all, ct_metrics, foreground_psnr

__all__ = ["ORACLE_SUFFIX", "TRUE_SIGMA_SUFFIX", "TRUE_PSD_SUFFIX", "CT_METRICS", "METRICS",
           "QualityResult", "noisy_image", "score", "true_psd", "run_quality"]

#: Appended to a classical filter's label for its per-image oracle-tuned row.
ORACLE_SUFFIX = " (oracle)"

#: Appended to a classical filter's label for its row given the true Gaussian sigma.
TRUE_SIGMA_SUFFIX = " (true σ)"
#: Label suffix of a filter told the drawn noise's power spectrum (correlated noise).
TRUE_PSD_SUFFIX = " (true PSD)"

#: Metrics in HU, for CT images only (see :func:`medden.metrics.ct_metrics`).
CT_METRICS = ("rmse_hu", "psnr_w400", "ssim_w400")
#: Metric columns, in the two-stage paper's order (``delta_e`` only for RGB images), then the
#: PSNR over the foreground (images other than CT), then the CT metrics.
METRICS = ("psnr", "ssim", "delta_e", "vifp", "mse", "psnr_fg", *CT_METRICS)
#: Images at least this share background (normalised intensity at most
#: :data:`medden.metrics.FOREGROUND`) are also scored over their foreground.
BACKGROUND_SHARE = 0.2


def noisy_image(image: BenchImage, condition: Condition, noise: Any, seed: int
                ) -> torch.Tensor:
    """The noisy version ``(1, C, H, W)`` of ``image`` under ``condition`` (seeded)."""
    batch = image.clean.unsqueeze(0)
    if noise is None:
        return batch
    return noise(batch, item_generator(seed, f"{image.key}|{condition.key}"))


def score(clean: np.ndarray, output: np.ndarray, hu: IntensityMap | None = None
          ) -> dict[str, float]:
    """Metrics of ``output`` (clipped to [0, 1]) against ``clean``; ``delta_e`` NaN if gray;
    the CT metrics when ``hu`` (the map back to HU) is given; the foreground PSNR when
    ``clean`` is at least :data:`BACKGROUND_SHARE` background (NaN otherwise)."""
    output = np.clip(output, 0.0, 1.0)
    scores = compute_all(clean, output, data_range=1.0)
    if hu is not None:
        scores.update(ct_metrics(hu.denormalise(clean), hu.denormalise(output)))
    elif np.mean(clean.mean(axis=0) <= FOREGROUND) >= BACKGROUND_SHARE:
        scores["psnr_fg"] = foreground_psnr(clean, output)
    return {m: float(scores.get(m, math.nan)) for m in METRICS}


@dataclass
class QualityResult:
    """What the quality loop produced.

    Attributes
    ----------
    records : list of dict
        One row per image, condition and method: ``modality``, ``image``, ``noise``,
        ``level``, ``condition``, ``model``, ``setting`` (oracle rows), then the metrics.
    kept : dict
        For the (image key, condition key) pairs asked for: ``{"noisy": array, label:
        output, ...}`` with arrays ``(C, H, W)`` clipped to [0, 1].
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    kept: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)


def _true_sigma(condition: Condition, noise: Any, noisy: torch.Tensor, clean: torch.Tensor
                ) -> float | None:
    """The true sigma of a condition's draw (0-255 scale): the level of additive Gaussian
    noise, the standard deviation of the drawn noise (over the pixels it changed) for a noise
    with a measured truth, None for other noises (see :class:`medden.noise.Noise`)."""
    if noise is None:
        return None
    if noise.additive_gaussian:
        return condition.level
    if not noise.measured_truth:
        return None
    drawn = (noisy[0] - clean).double()
    changed = drawn[drawn != 0]
    return float(changed.std() * 255.0) if changed.numel() > 1 else None


def true_psd(noisy: torch.Tensor, clean: torch.Tensor, smoothing: float = 2.0) -> np.ndarray:
    """The power spectrum of the drawn noise ``noisy - clean`` of one image, ``(C, H, W)``:
    each channel's periodogram ``|FFT|^2`` smoothed by a circular Gaussian of ``smoothing``
    frequency bins (a single draw's periodogram is itself as noisy as an exponential)."""
    drawn = (noisy[0] - clean).double().numpy()
    power = np.abs(np.fft.fft2(drawn)) ** 2
    return ndimage.gaussian_filter(power, sigma=(0, smoothing, smoothing), mode="wrap")


def _clipped(batch: torch.Tensor) -> np.ndarray:
    return np.clip(batch[0].detach().cpu().numpy(), 0.0, 1.0)


@dataclass
class _QualityJob:
    """What scoring one image needs (shared with worker processes by ``fork``)."""

    conditions: Sequence[Condition]
    methods: Sequence[Method]
    tuners: Mapping[str, OracleTuner]
    seed: int
    keep: Collection[tuple[str, str]]
    true_sigma: Mapping[str, Callable[[float], nn.Module]]
    tunes_under: Callable[[str], bool]
    noises: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.noises = {c.key: c.build() for c in self.conditions}

    @torch.inference_mode()
    def score_image(self, image: BenchImage, done: Callable[[int], Any] = lambda n: None
                    ) -> QualityResult:
        """Every condition and method on ``image``; ``done(1)`` after each condition."""
        result = QualityResult()
        clean = image.clean.numpy()
        for condition in self.conditions:
            noise = self.noises[condition.key]
            noisy = noisy_image(image, condition, noise, self.seed)
            level = _true_sigma(condition, noise, noisy, image.clean)
            psd = (true_psd(noisy, image.clean) if level is not None and noise.correlated
                   else None)  # once per draw, for every filter that takes it
            tuned = self.tunes_under(condition.noise)
            outputs: dict[str, tuple[np.ndarray, str]] = {}
            for method in self.methods:
                outputs[method.label] = (_clipped(method.denoise(noisy)), "")
                if tuned and method.label in self.tuners:
                    best, setting = self.tuners[method.label].best(noisy, clean)
                    outputs[method.label + ORACLE_SUFFIX] = (_clipped(best), setting)
                informed = self.true_sigma.get(method.label)
                if informed is not None and level is not None:
                    filtered = informed(level)
                    outputs[method.label + TRUE_SIGMA_SUFFIX] = (
                        _clipped(filtered(noisy)), f"sigma={level:.3g}")
                    if psd is not None and filtered.accepts_psd:
                        told = filtered.with_psd(psd)
                        outputs[method.label + TRUE_PSD_SUFFIX] = (_clipped(told(noisy)),
                                                                   "noise power spectrum")
            base = {"modality": image.modality, "image": image.key, "noise": condition.noise,
                    "level": condition.level, "condition": condition.key}
            for label, (output, setting) in outputs.items():
                result.records.append({**base, "model": label, "setting": setting,
                                       **score(clean, output, image.hu)})
            if (image.key, condition.key) in self.keep:
                result.kept[image.key, condition.key] = {
                    "noisy": _clipped(noisy), **{k: v[0] for k, v in outputs.items()}}
            done(1)
        return result


#: The job and images of the pool being run, inherited by its forked workers.
_SHARED: tuple[_QualityJob, Sequence[BenchImage]] | None = None


def _single_threaded_worker() -> None:
    """Pool initializer: one thread for torch and for numpy's/scipy's BLAS, so that N
    workers use N cores (forked children inherit a BLAS pool of one thread per core)."""
    torch.set_num_threads(1)
    threadpool_limits(1)


def _score_shared(index: int) -> QualityResult:
    job, images = _SHARED
    return job.score_image(images[index])


def _scored_images(job: _QualityJob, images: Sequence[BenchImage], workers: int,
                   steps: tqdm) -> Iterator[QualityResult]:
    """Each image's result, in the order of ``images``, from ``workers`` processes."""
    if workers == 1 or len(images) < 2:
        for image in images:
            yield job.score_image(image, steps.update)
        return
    global _SHARED
    _SHARED = job, images
    try:
        with multiprocessing.get_context("fork").Pool(
                min(workers, len(images)), initializer=_single_threaded_worker) as pool:
            for result in pool.imap(_score_shared, range(len(images))):
                steps.update(len(job.conditions))
                yield result
    finally:
        _SHARED = None


def run_quality(
    images: Sequence[BenchImage],
    conditions: Sequence[Condition],
    methods: Sequence[Method],
    tuners: Mapping[str, OracleTuner],
    seed: int,
    keep: Collection[tuple[str, str]] = (),
    progress: bool = True,
    true_sigma: Mapping[str, Callable[[float], nn.Module]] | None = None,
    tunes_under: Callable[[str], bool] | None = None,
    workers: int = 1,
) -> QualityResult:
    """Score every scored method (and oracle-tuned filter) on every image and condition.

    Parameters
    ----------
    images, conditions, methods
        What to run; methods that are not :attr:`~medden.bench.methods.Method.scored` are
        left out.
    tuners : mapping of str to OracleTuner
        Oracle tuning by method label; adds a ``label (oracle)`` row per filter.
    seed : int
        Noise seed.
    keep : collection of (image key, condition key)
        Pairs whose noisy image and outputs are kept (for the qualitative figures).
    progress : bool
        Show a progress bar (with the estimated time left).
    true_sigma : mapping of str to callable, optional
        By method label, a factory of the filter given a noise sigma (0-255 scale); adds a
        ``label (true σ)`` row under every Gaussian condition with a level.
    tunes_under : callable, optional
        Whether the tuners run under a noise label (a ``--noise`` SPEC); None: under every
        condition.
    workers : int
        Processes scoring images in parallel (forked, one torch thread each); the records
        are the same, in the same order, whatever the number.
    """
    job = _QualityJob(conditions, [m for m in methods if m.scored], tuners, seed, keep,
                      true_sigma or {}, tunes_under or (lambda noise: True))
    result = QualityResult()
    steps = tqdm(total=len(images) * len(conditions), desc="benchmark", unit="image",
                 disable=not progress)
    with steps:
        for part in _scored_images(job, images, workers, steps):
            result.records += part.records
            result.kept.update(part.kept)
    return result
