"""The Pipeline contract: one or more denoisers in stages, plus how they are trained.

A pipeline is an :class:`torch.nn.Module` end to end (a bundle ships it as one network) and
exposes its stages (training recipes train them one by one).  The default forward runs the
stages in order, each on the previous stage's output; pipelines with another data flow (the
two-stage noise-estimation network) override :meth:`forward`.
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
