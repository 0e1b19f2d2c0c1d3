"""The ``single`` pipeline: one registered model as a one-stage pipeline."""

from __future__ import annotations

import torch

from medden.pipeline import Pipeline
from medden.registry import model_registry
from medden.spec import Spec, parse_spec


class SinglePipeline(Pipeline):
    """One model as a one-stage pipeline (the default wrapping of any model).

    Parameters
    ----------
    model : Spec
        SPEC of the model to wrap, e.g. ``median:size=5``.
    """

    def __init__(self, model: Spec | str = "identity", **model_params: object) -> None:
        model = parse_spec(model)
        spec = Spec(model.name, {**model.params, **model_params})
        super().__init__({"model": model_registry.create(spec)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the wrapped model."""
        return self.stages["model"](x)
