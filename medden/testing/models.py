"""Conformance checks for model plugins (the :class:`medden.models.Denoiser` contract)."""

from __future__ import annotations

from typing import Any

from medden.models import Denoiser
from medden.registry import model_registry
from medden.testing._common import check_declarations, resolve
from medden.testing._network import check_network

__all__ = ["check_model"]


def check_model(model: Any, *, seed: int = 0, torchscript: bool = True) -> Denoiser:
    """Check a model plugin against the contract the first-party models meet.

    Parameters
    ----------
    model : str, Spec, type or Denoiser
        A registry name or SPEC (``"tiny_resnet"``, ``"tiny_resnet:features=8"``; the entry
        point is loaded through the registry), a :class:`~medden.models.Denoiser` subclass
        (built with its defaults) or an instance.
    seed : int
        Seed of the test inputs.
    torchscript : bool
        Require a learned model to export to TorchScript (``torch.jit.script``, else
        ``torch.jit.trace``) with the eager output; False for one known not to.

    Returns
    -------
    Denoiser
        The instance that was checked.

    Raises
    ------
    ConformanceError
        The first broken rule: entry point loads to a Denoiser subclass; one-line summary;
        every parameter typed, defaulted and documented; ``spatial_dims`` (a non-empty
        tuple from (2, 3)) and ``channels`` (None or positive counts) valid on the class and
        on every built instance (which must not hide them with attributes of its own, such
        as ``self.spatial_dims = spatial_dims``), ``learned`` a bool and ``size_multiple`` an
        int of at least 1.  Then for every declared dimensionality and channel count (1
        and 3 for "any"; a model declaring ``spatial_dims`` / ``in_channels`` parameters is
        built for each): eval-mode forward on awkward sizes (17x23, 7x9; 5x9x11) raises
        nothing, keeps shape and dtype, is finite, leaves the input alone, is repeatable
        and does not mix images of a batch; a learned model has
        trainable parameters and an MSE loss sends finite, non-zero gradients to every
        one of them, a classical one has none; the ``state_dict`` loads with
        ``torch.load(weights_only=True)`` into a model rebuilt from the same SPEC and gives
        the same output (what a bundle does); a learned model scripts or traces to
        TorchScript with the eager output (first variant).
    """
    subject = resolve(model, model_registry, Denoiser)
    cls = subject.cls
    check_declarations(subject, cls)
    subject.expect(isinstance(cls.learned, bool), f"learned must be a bool, got {cls.learned!r}")
    multiple = subject.instance.size_multiple
    subject.expect(isinstance(multiple, int) and multiple >= 1,
                   f"size_multiple must be an int >= 1, got {multiple!r}")
    check_network(subject, tuple(cls.spatial_dims), cls.channels, cls.learned, seed,
                  every_parameter=True, torchscript=torchscript)
    return subject.instance
