"""The Pipeline contract: one or more denoisers in stages, plus how they are trained.

A pipeline is an :class:`torch.nn.Module` end to end (a bundle ships it as one network) and
exposes its stages (training recipes train them one by one).  The default forward runs the
stages in order, each on the previous stage's output; pipelines with another data flow (the
two-stage noise-estimation network) override :meth:`forward`.

Whole-image decisions.  Some pipelines decide something per image from the image as a whole
(the prefiltered pipeline's noise gate, the magnitude switch's branch).  An image larger than a
tile is denoised tile by tile, and a decision taken on each tile alone could differ between
neighbouring tiles and leave seams.  Such a pipeline therefore splits its forward in two:
:meth:`decide` takes the decisions from the whole image (``(N, decision_width)`` numbers), and
:meth:`forward_decided` denoises any part of it (a tile) with them.  ``forward(x)`` gives what
``forward_decided(x, decide(x))`` gives.  A pipeline that decides overrides both under
``@torch.jit.export``, so that its TorchScript export carries them; the base class's (it decides
nothing) are not exported, so that a pipeline with stages TorchScript cannot compile can still
be traced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import nn

from medden.models import built_spatial_dims
from medden.spec import Spec

__all__ = ["Pipeline"]


class Pipeline(nn.Module):
    """Base class of pipelines.

    Parameters
    ----------
    stages : mapping of str to Denoiser
        The stages, in the order the default :meth:`forward` runs them.
    """

    #: Training recipe used when a config names none (see ``medden.train``).
    recipe: ClassVar[str] = "noise2clean"
    #: Loss per stage name when a config names none (``"*"`` = any stage).
    stage_losses: ClassVar[Mapping[str, str]] = {"*": "mse"}
    #: The SPEC the instance was built from (set by the registry).
    spec: Spec | None = None
    #: Python-only attributes TorchScript must not compile.
    __jit_ignored_attributes__ = ["spec"]
    #: Python-only properties TorchScript must not compile.
    __jit_unused_properties__ = ["stage_names", "spatial_dims", "learned"]

    def __init__(self, stages: Mapping[str, nn.Module]) -> None:
        super().__init__()
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        self.stages = nn.ModuleDict(dict(stages))
        #: Numbers per image :meth:`decide` returns (0: the pipeline decides nothing per image).
        self.decision_width = 0

    @property
    def stage_names(self) -> list[str]:
        """Stage names in order."""
        return list(self.stages.keys())

    @property
    def spatial_dims(self) -> tuple[int, ...]:
        """Spatial dims every stage supports."""
        dims = {2, 3}
        for stage in self.stages.values():
            dims &= set(built_spatial_dims(stage))
        return tuple(sorted(dims))

    @property
    def learned(self) -> bool:
        """True when any stage has trainable weights."""
        return any(getattr(stage, "learned", True) for stage in self.stages.values())

    def loss_for(self, stage: str) -> str:
        """Default loss name for ``stage``."""
        return self.stage_losses.get(stage, self.stage_losses.get("*", "mse"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the stages in order."""
        for stage in self.stages.values():
            x = stage(x)
        return x

    def decide(self, x: torch.Tensor) -> torch.Tensor:
        """The decisions this pipeline takes from each whole image of ``x``: ``(N, width)``.

        Parameters
        ----------
        x : torch.Tensor
            Batch of whole images ``(N, C, *spatial)``.

        Returns
        -------
        torch.Tensor
            ``(N, decision_width)``; the base class decides nothing (width 0).
        """
        return x.new_zeros(x.shape[0], self.decision_width)

    def forward_decided(self, x: torch.Tensor, decisions: torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` (whole images or tiles of them) with decisions :meth:`decide` took.

        Parameters
        ----------
        x : torch.Tensor
            Batch ``(N, C, *spatial)``.
        decisions : torch.Tensor
            ``(N, decision_width)``: row ``i`` taken from the whole image tile ``i`` is cut from.

        Returns
        -------
        torch.Tensor
            The denoised batch; the base class ignores ``decisions`` (it has none).
        """
        return self.forward(x)
