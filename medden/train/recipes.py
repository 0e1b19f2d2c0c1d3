"""Training recipes: how a pipeline is split into training phases.

A :class:`Phase` is one ignite training run: which module is optimised, what it is fed
(``prepare``), the loss, and what is validated.  Recipes:

``noise2clean``
    The whole pipeline end to end, noisy input -> clean target.
``noise2noise``
    The same, but the target is an independent noisy realisation (the data decides that:
    see :mod:`medden.train.data`); validation still scores against clean images when they
    exist.
``staged``
    One phase per stage (the X-ray attention paper): stage *k* is trained on the outputs
    of the already trained stages before it (run frozen, in eval mode, on every batch: the
    same data as precomputing them, with fresh noise every epoch); then, if
    ``joint_epochs > 0``, the whole pipeline is fine-tuned jointly.
``two_stage``
    The two-stage paper's separate objectives in one phase: the noise-estimation stage
    learns the true noise ``input - clean`` (its loss, MSE), the reconstruction stage learns
    the clean image from the input and the *detached* estimate (its loss, L1), so neither
    loss updates the other network.
``neighbor2neighbor``, ``n2v2``
    Self-supervised (:mod:`medden.train.self_supervised`): the whole pipeline is trained from
    the noisy input alone (random sub-sampled pairs with Neighbor2Neighbor's regulariser; or
    N2V2 blind-spot masks, optionally structN2V's); a clean target, when the data has one,
    only scores validation.  On noisy-only data (``data.noisy``) validation scores the
    pipeline on fixed sub-sampled pairs of the noisy images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from medden.errors import UsageError
from medden.pipeline import Pipeline
from medden.train.config import SELF_SUPERVISED, TrainConfig
from medden.train.losses import MSELoss, build_loss
from medden.train.self_supervised import (
    BlindSpotLoss,
    BlindSpotObjective,
    Neighbor2NeighborLoss,
    Neighbor2NeighborObjective,
    subsampled_pairs,
)

__all__ = ["Phase", "StagePrefix", "TwoStageObjective", "TwoStageLoss", "build_phases",
           "recipe_of", "RECIPES"]

RECIPES = ("noise2clean", "noise2noise", "staged", "two_stage", *SELF_SUPERVISED)

PrepareBatch = Callable[[dict, Any, bool], tuple[Any, Any]]


@dataclass
class Phase:
    """One training run of a recipe.

    Attributes
    ----------
    name : str
        Shown in logs: the recipe, ``stage:<name>`` or ``joint``.
    network : nn.Module
        What the trainer calls on the prepared input; its output goes to ``loss``.
    trained : list of str
        Stages whose parameters are optimised.
    loss : nn.Module
        Training loss ``(network output, prepared target)``.
    prepare : callable
        ``(batch, device, non_blocking) -> (x, y)`` for the trainer.
    evaluate : nn.Module
        Noisy input -> denoised image, scored on the validation split.
    eval_loss : nn.Module
        Loss of ``evaluate``'s output against the validation target (logged as ``loss``).
    epochs : int
        Epoch budget of the phase.
    prepare_val : callable
        ``prepare`` of validation batches: ``(input, target)`` by default.
    """

    name: str
    network: nn.Module
    trained: list[str]
    loss: nn.Module
    prepare: PrepareBatch
    evaluate: nn.Module
    eval_loss: nn.Module
    epochs: int
    prepare_val: PrepareBatch | None = None


class StagePrefix(nn.Module):
    """The first ``count`` stages of a pipeline, run in order (the default data flow)."""

    def __init__(self, pipeline: Pipeline, count: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList(list(pipeline.stages.values())[:count])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the stages one after the other."""
        for stage in self.stages:
            x = stage(x)
        return x


class TwoStageObjective(nn.Module):
    """Forward pass of the two-stage recipe: ``(noise estimate, reconstruction)``.

    The reconstruction stage receives the detached estimate, so the reconstruction loss
    does not reach the noise-estimation network.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__()
        self.pipeline = pipeline

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimated noise and reconstructed image of ``x``."""
        noise = self.pipeline.estimate_noise(x)
        return noise, self.pipeline.reconstruct(x, noise.detach())


class TwoStageLoss(nn.Module):
    """Sum of the two separate objectives (gradients do not mix, see the recipe)."""

    def __init__(self, noise_loss: nn.Module, image_loss: nn.Module) -> None:
        super().__init__()
        self.noise_loss = noise_loss
        self.image_loss = image_loss

    def forward(self, prediction: tuple[torch.Tensor, torch.Tensor],
                target: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``noise_loss(estimate, true noise) + image_loss(reconstruction, clean)``."""
        (noise, image), (true_noise, clean) = prediction, target
        return self.noise_loss(noise, true_noise) + self.image_loss(image, clean)


def _to(tensor: torch.Tensor, device: Any, non_blocking: bool) -> torch.Tensor:
    return tensor.to(device=device, non_blocking=non_blocking) if device else tensor


def _pairs(batch: dict, device: Any = None, non_blocking: bool = False) -> tuple:
    return _to(batch["input"], device, non_blocking), _to(batch["target"], device, non_blocking)


def _after(prefix: nn.Module) -> PrepareBatch:
    """Inputs passed through frozen earlier stages (staged recipe)."""

    def prepare(batch: dict, device: Any = None, non_blocking: bool = False) -> tuple:
        x, y = _pairs(batch, device, non_blocking)
        prefix.eval()
        with torch.no_grad():
            return prefix(x), y

    return prepare


def _noise_targets(batch: dict, device: Any = None, non_blocking: bool = False) -> tuple:
    x, y = _pairs(batch, device, non_blocking)
    return x, (x - y, y)


def recipe_of(config: TrainConfig, pipeline: Pipeline) -> str:
    """The recipe of the run: the config's, else the pipeline's own.

    Raises
    ------
    UsageError
        Unknown recipe, or one the pipeline cannot be trained with.
    """
    recipe = config.recipe or pipeline.recipe
    if recipe not in RECIPES:
        raise UsageError(f"pipeline recipe '{recipe}' is not one of {', '.join(RECIPES)}")
    if recipe == "staged" and len(pipeline.stages) < 2:
        raise UsageError("recipe 'staged' needs a pipeline with two or more stages")
    if recipe == "two_stage" and not (hasattr(pipeline, "estimate_noise")
                                      and hasattr(pipeline, "reconstruct")):
        raise UsageError("recipe 'two_stage' needs a pipeline with estimate_noise() and "
                         "reconstruct() (e.g. 'two_stage')")
    if not pipeline.learned:
        raise UsageError("the pipeline has no trainable stage (classical filters only)")
    return recipe


def _stage_loss(config: TrainConfig, pipeline: Pipeline, stage: str) -> nn.Module:
    spec = config.stage_losses.get(stage) or config.loss or pipeline.loss_for(stage)
    return build_loss(spec)


def build_phases(config: TrainConfig, pipeline: Pipeline, recipe: str) -> list[Phase]:
    """The training phases of ``recipe`` for ``pipeline``, in order.

    Stages frozen by ``init.freeze: [stage1]`` get no phase of their own.
    """
    names = pipeline.stage_names
    last = names[-1]
    frozen_first = "stage1" in config.init.freeze
    if recipe == "two_stage":
        nen, rn = names[0], names[-1]
        image_loss = _stage_loss(config, pipeline, rn)
        return [Phase(recipe, TwoStageObjective(pipeline), [nen, rn],
                      TwoStageLoss(_stage_loss(config, pipeline, nen), image_loss),
                      _noise_targets, pipeline, image_loss, config.phase_epochs)]
    if recipe in SELF_SUPERVISED:
        return [_self_supervised_phase(config, pipeline, recipe)]
    if recipe in ("noise2clean", "noise2noise"):
        loss = _stage_loss(config, pipeline, last)
        return [Phase(recipe, pipeline, list(names), loss, _pairs, pipeline, loss,
                      config.phase_epochs)]
    phases = []
    for index, name in enumerate(names):
        if index == 0 and frozen_first:
            continue
        loss = _stage_loss(config, pipeline, name)
        prefix = StagePrefix(pipeline, index)
        phases.append(Phase(f"stage:{name}", pipeline.stages[name], [name], loss,
                            _after(prefix), StagePrefix(pipeline, index + 1), loss,
                            config.stage_epochs.get(name, config.phase_epochs)))
    if config.joint_epochs > 0:
        loss = _stage_loss(config, pipeline, last)
        phases.append(Phase("joint", pipeline, list(names), loss, _pairs, pipeline, loss,
                            config.joint_epochs))
    return phases


def _self_supervised_phase(config: TrainConfig, pipeline: Pipeline, recipe: str) -> Phase:
    """The one phase of a self-supervised recipe: the whole pipeline end to end."""
    ssl = config.self_supervised
    if recipe == "neighbor2neighbor":
        objective: nn.Module = Neighbor2NeighborObjective(pipeline)
        loss: nn.Module = Neighbor2NeighborLoss(ssl.gamma)
    else:
        objective = BlindSpotObjective(pipeline, ssl.masked_fraction, ssl.struct,
                                       ssl.struct_span, ssl.replace_window)
        loss = BlindSpotLoss()
    prepare_val = subsampled_pairs if config.data.noisy else _pairs
    return Phase(recipe, objective, list(pipeline.stage_names), loss, _pairs, pipeline,
                 MSELoss(), config.phase_epochs, prepare_val)
