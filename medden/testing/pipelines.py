"""Conformance checks for pipeline plugins (the :class:`medden.pipeline.Pipeline` contract)."""

from __future__ import annotations

from typing import Any

from medden.models import Denoiser
from medden.pipeline import Pipeline
from medden.registry import pipeline_registry
from medden.spec import SpecError
from medden.testing._common import Subject, check_declarations, resolve
from medden.testing._network import check_network
from medden.train.losses import build_loss
from medden.train.recipes import RECIPES

__all__ = ["check_pipeline", "pipeline_channels"]


def pipeline_channels(pipeline: Pipeline) -> tuple[int, ...] | None:
    """Channel counts every stage's class accepts (``None`` = any)."""
    counts: set[int] | None = None
    for stage in pipeline.stages.values():
        declared = getattr(stage, "channels", None)
        if declared is not None:
            counts = set(declared) if counts is None else counts & set(declared)
    return None if counts is None else tuple(sorted(counts))


def _check_stages(subject: Subject) -> None:
    pipeline: Pipeline = subject.instance
    subject.expect(bool(pipeline.stage_names), "a pipeline needs at least one stage")
    for name, stage in pipeline.stages.items():
        subject.expect(isinstance(stage, Denoiser),
                       f"stage '{name}' is {type(stage).__name__}, not a Denoiser")
        check_declarations(subject, stage, f"stage '{name}': ")
        try:
            build_loss(pipeline.loss_for(name))
        except SpecError as exc:
            raise subject.fail(f"stage '{name}': default loss (stage_losses): {exc}") from exc
    recipe = type(pipeline).recipe
    subject.expect(recipe in RECIPES,
                   f"recipe must be one of {', '.join(RECIPES)}; got {recipe!r}")
    subject.expect(pipeline_channels(pipeline) != (),
                   "no channel count is accepted by every stage")


def check_pipeline(pipeline: Any, *, seed: int = 0, torchscript: bool = True) -> Pipeline:
    """Check a pipeline plugin against the contract the first-party pipelines meet.

    Parameters
    ----------
    pipeline : str, Spec, type or Pipeline
        A registry name or SPEC (``"median_then_tiny"``; the entry point is loaded through
        the registry), a :class:`~medden.pipeline.Pipeline` subclass (built with its
        defaults) or an instance.
    seed : int
        Seed of the test inputs.
    torchscript : bool
        Require a pipeline whose stages are all learned to export to TorchScript (see
        :func:`~medden.testing.check_model`); a classical stage runs numpy code, which
        TorchScript cannot hold, so pipelines with one are exempt.

    Returns
    -------
    Pipeline
        The instance that was checked.

    Raises
    ------
    ConformanceError
        The first broken rule: entry point loads to a Pipeline subclass; one-line summary;
        every parameter typed, defaulted and documented; at least one stage, every stage a
        Denoiser whose default loss builds (``medden.train.losses``); a known training
        recipe (``medden.train.recipes.RECIPES``); every stage's ``spatial_dims`` and
        ``channels`` valid (see :func:`~medden.testing.check_model`); some channel count
        accepted by all stages.  Then the network checks of
        :func:`~medden.testing.check_model` on the whole pipeline (dims and channels those
        of its stages), except that gradients need to reach only some of its weights
        (stages may be trained one at a time).
    """
    subject = resolve(pipeline, pipeline_registry, Pipeline)
    _check_stages(subject)
    instance: Pipeline = subject.instance
    all_learned = all(getattr(stage, "learned", True) for stage in instance.stages.values())
    check_network(subject, instance.spatial_dims, pipeline_channels(instance), instance.learned,
                  seed, every_parameter=False, torchscript=torchscript and all_learned)
    return instance
