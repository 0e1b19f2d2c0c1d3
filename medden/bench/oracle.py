"""Per-image oracle tuning of classical filters (the Noise2Noise X-ray/CT paper's method).

For every image the filter is run with every setting of its declared ``tuning_grid`` (all
combinations) and with the setting given by the user, and the setting whose output has the
highest PSNR against the clean reference is kept.  Including the user's setting makes the
oracle at least as good as it on every image.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch

from medden.metrics import psnr
from medden.models import ClassicalDenoiser
from medden.registry import model_registry
from medden.spec import Spec

__all__ = ["OracleTuner", "grid_settings"]


def grid_settings(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of a tuning grid, as keyword dictionaries."""
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in
            itertools.product(*(grid[n] for n in names))]


def _format(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class OracleTuner:
    """Candidates of one classical filter, best chosen per image by PSNR.

    Parameters
    ----------
    spec : Spec
        SPEC of a registered :class:`~medden.models.ClassicalDenoiser` with a
        ``tuning_grid``; its parameters are the user's setting, kept as a candidate.
    """

    def __init__(self, spec: Spec) -> None:
        given = model_registry.create(spec)
        if not isinstance(given, ClassicalDenoiser) or not type(given).tuning_grid:
            raise ValueError(f"'{spec}' is not a classical filter with a tuning grid")
        grid = type(given).tuning_grid
        self.parameters = list(grid)
        self.candidates: list[tuple[str, ClassicalDenoiser]] = []
        seen: set[str] = set()
        for model in [given] + [model_registry.create(spec, **s) for s in grid_settings(grid)]:
            setting = self.describe(model)
            if setting not in seen:
                seen.add(setting)
                self.candidates.append((setting, model))

    def describe(self, model: ClassicalDenoiser) -> str:
        """The tuned parameters of ``model`` as ``key=value,...``."""
        return ",".join(f"{n}={_format(getattr(model, n))}" for n in self.parameters)

    def __len__(self) -> int:
        return len(self.candidates)

    @torch.inference_mode()
    def best(self, noisy: torch.Tensor, clean: np.ndarray) -> tuple[torch.Tensor, str]:
        """The best output for one noisy batch of one image, and its setting.

        Parameters
        ----------
        noisy : torch.Tensor
            ``(1, C, H, W)`` noisy image.
        clean : numpy.ndarray
            ``(C, H, W)`` clean reference in [0, 1]; outputs are clipped to [0, 1] before
            scoring, as in the benchmark tables.
        """
        best_score, best_output, best_setting = -np.inf, None, ""
        for setting, model in self.candidates:
            output = model(noisy)
            score = psnr(clean, np.clip(output[0].numpy(), 0.0, 1.0), data_range=1.0)
            if np.isnan(score):  # a failed setting (NaN output) ranks below every other
                score = -np.inf
            if best_output is None or score > best_score:
                best_score, best_output, best_setting = score, output, setting
        return best_output, best_setting
