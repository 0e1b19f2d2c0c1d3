"""The ``prefiltered`` pipeline: a fixed classical filter, then a model.

The first stage has no weights: it removes what a classical filter removes best (by default
salt-and-pepper impulses, with ``switching_median``) and the model denoises the rest. The
model's weights sit under the same names as in the ``single`` pipeline, so a network trained
as ``single`` can be fine-tuned (``init.weights``) or run behind the filter as is.

Optionally a noise gate leaves images that are already clean alone: a network always changes
its input a little, so a clean image (or one whose only noise was impulses, removed by the
filter) comes out slightly worse than it went in.  The gate estimates the noise left after the
filter (:func:`medden_pipelines.noise_gate.tile_noise_sigma`: a quantile ``gate_quantile`` of
its 32x32 tiles' estimates, by default the upper quartile; 1 takes the noisiest tile, for noise
that scales with intensity on mostly dark images); up to ``clean_sigma`` only the
impulses take the network's output (its estimate there is better than the filter's): the pixels
the filter replaced, and pixels at exactly 0 or 1 that the network moves by more than
``noisy_sigma`` (low-contrast impulses below the filter's threshold); from ``noisy_sigma`` on the
whole image does, and in between the two are blended.

Optionally (``change_limit``) the model may move no pixel by more than that many standard
deviations of the noise estimated around it (:func:`medden_pipelines.noise_gate.limit_change`):
what a denoiser removes beyond that is structure rather than noise. Unlike the gate it never
returns a noisy image unchanged, and a clean image (small estimate) stays nearly as it was.
"""

from __future__ import annotations

import torch

from medden.pipeline import Pipeline
from medden.registry import model_registry
from medden.spec import Spec, parse_spec
from medden_pipelines.noise_gate import gate_weight, gated_output, limit_change, tile_noise_sigma


class PrefilteredPipeline(Pipeline):
    """A weightless filter stage, then a model (run in that order).

    Parameters
    ----------
    model : Spec
        SPEC of the model, e.g. ``noise_aware_unet:in_channels=1``.
    prefilter : Spec
        SPEC of the first stage, a filter without learned weights (default
        ``switching_median``).
    clean_sigma, noisy_sigma : float, optional
        The noise gate (0-255 scale, both or neither): at an estimated noise level up to
        ``clean_sigma`` only the impulses are denoised (see the module docstring), from
        ``noisy_sigma`` on the whole image; without them the model denoises every image.
    gate_quantile : float
        Which of the tiles' noise estimates the gate compares with its levels (0.75: the upper
        quartile, which sees noise confined to a quarter of the image; 1: the noisiest tile,
        which also sees speckle or Poisson noise on an image that is bright only in places).
    change_limit : float, optional
        Largest change the model may make to a pixel, in standard deviations of the noise
        estimated on 32x32 tiles around it (after the filter); none by default.

    Raises
    ------
    ValueError
        When ``prefilter`` has learned weights, the gate's levels are not
        ``0 <= clean_sigma < noisy_sigma``, ``gate_quantile`` is outside [0, 1], or
        ``change_limit`` is not positive.
    """

    def __init__(self, model: Spec | str = "identity",
                 prefilter: Spec | str = "switching_median",
                 clean_sigma: float | None = None, noisy_sigma: float | None = None,
                 gate_quantile: float = 0.75, change_limit: float | None = None) -> None:
        first = model_registry.create(parse_spec(prefilter))
        if next(first.parameters(), None) is not None:
            raise ValueError(f"prefilter '{prefilter}' has learned weights; the prefiltered "
                             "pipeline takes a classical filter first")
        if (clean_sigma is None) != (noisy_sigma is None):
            raise ValueError("give both clean_sigma and noisy_sigma (the noise gate), or neither")
        if clean_sigma is not None and not 0 <= clean_sigma < noisy_sigma:
            raise ValueError(f"the noise gate needs 0 <= clean_sigma < noisy_sigma, got "
                             f"{clean_sigma} and {noisy_sigma}")
        if not 0.0 <= gate_quantile <= 1.0:
            raise ValueError(f"gate_quantile must be in [0, 1], got {gate_quantile}")
        if change_limit is not None and not change_limit > 0:
            raise ValueError(f"change_limit must be positive, got {change_limit}")
        super().__init__({"prefilter": first, "model": model_registry.create(parse_spec(model))})
        self.gated = clean_sigma is not None
        self.clean_sigma = float(clean_sigma or 0.0) / 255.0
        self.noisy_sigma = float(noisy_sigma or 0.0) / 255.0
        self.gate_quantile = float(gate_quantile)
        self.change_limit = None if change_limit is None else float(change_limit)
        self.decision_width = 1 if self.gated else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Filter, denoise, bound the change (with ``change_limit``), then (with the gate) keep
        the input where the image is clean."""
        prefiltered = self.stages["prefilter"](x)
        return self._denoise(x, prefiltered, self._gate_weights(prefiltered))

    @torch.jit.export
    def decide(self, x: torch.Tensor) -> torch.Tensor:
        """The gate's weight of each whole image, ``(N, 1)`` (``(N, 0)`` without a gate)."""
        return self._gate_weights(self.stages["prefilter"](x))

    @torch.jit.export
    def forward_decided(self, x: torch.Tensor, decisions: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with the gate's weights :meth:`decide` took on the whole images."""
        return self._denoise(x, self.stages["prefilter"](x), decisions)

    def _gate_weights(self, prefiltered: torch.Tensor) -> torch.Tensor:
        if not self.gated:
            return prefiltered.new_zeros(prefiltered.shape[0], 0)
        sigma = tile_noise_sigma(prefiltered, quantile=self.gate_quantile)
        return gate_weight(sigma, self.clean_sigma, self.noisy_sigma).unsqueeze(1)

    def _denoise(self, x: torch.Tensor, prefiltered: torch.Tensor,
                 weights: torch.Tensor) -> torch.Tensor:
        denoised = self.stages["model"](prefiltered)
        if self.change_limit is not None:
            denoised = limit_change(prefiltered, denoised, self.change_limit)
        if not self.gated:
            return denoised
        return gated_output(x, prefiltered, denoised, weights[:, 0], self.noisy_sigma)
