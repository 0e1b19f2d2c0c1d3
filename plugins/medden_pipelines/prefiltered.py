"""The ``prefiltered`` pipeline: a fixed classical filter, then a model.

The first stage has no weights: it removes what a classical filter removes best (by default
salt-and-pepper impulses, with ``switching_median``) and the model denoises the rest. The
model's weights sit under the same names as in the ``single`` pipeline, so a network trained
as ``single`` can be fine-tuned (``init.weights``) or run behind the filter as is.
"""

from __future__ import annotations

from medden.pipeline import Pipeline
from medden.registry import model_registry
from medden.spec import Spec, parse_spec


class PrefilteredPipeline(Pipeline):
    """A weightless filter stage, then a model (run in that order).

    Parameters
    ----------
    model : Spec
        SPEC of the model, e.g. ``noise_aware_unet:in_channels=1``.
    prefilter : Spec
        SPEC of the first stage, a filter without learned weights (default
        ``switching_median``).

    Raises
    ------
    ValueError
        When ``prefilter`` has learned weights.
    """

    def __init__(self, model: Spec | str = "identity",
                 prefilter: Spec | str = "switching_median") -> None:
        first = model_registry.create(parse_spec(prefilter))
        if next(first.parameters(), None) is not None:
            raise ValueError(f"prefilter '{prefilter}' has learned weights; the prefiltered "
                             "pipeline takes a classical filter first")
        super().__init__({"prefilter": first, "model": model_registry.create(parse_spec(model))})
