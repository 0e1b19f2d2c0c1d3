"""Conformance checks for noise plugins (the :class:`medden.noise.Noise` contract)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from medden.noise import Noise, make_generator
from medden.registry import noise_registry
from medden.testing._common import Subject, assert_same, check_declarations, resolve

__all__ = ["check_noise", "sample_shapes"]

#: Spatial sizes the shape checks use (odd and non-square on purpose).
_SPATIAL = {2: (13, 18), 3: (5, 13, 18)}
#: Spatial size of the flat batch handed to a ``statistics`` hook (2-D when supported).
_STATISTICS_SPATIAL = {2: (64, 64), 3: (4, 64, 64)}

Statistics = Callable[[torch.Tensor, torch.Tensor], Any]


def sample_shapes(spatial_dims: tuple[int, ...], channels: tuple[int, ...] | None,
                  batch: int = 2) -> list[tuple[int, ...]]:
    """Input shapes covering the declared dims and channels, batches and single images.

    ``channels=None`` (any count) is exercised with 1 and 3 channels.  A single volume
    ``(C, D, H, W)`` is left out when 2-D is supported too: :class:`~medden.noise.Noise`
    reads that shape as a batch of 2-D images.
    """
    shapes = []
    for dims in spatial_dims:
        for count in channels or (1, 3):
            shapes.append((batch, count, *_SPATIAL[dims]))
            if dims == 2 or 2 not in spatial_dims:
                shapes.append((count, *_SPATIAL[dims]))
    return shapes


def _draw(subject: Subject, clean: torch.Tensor, seed: int) -> torch.Tensor:
    return subject.run(f"noise on {tuple(clean.shape)} {clean.dtype}", subject.instance, clean,
                       make_generator(seed))


def _check_shapes(subject: Subject, seed: int) -> None:
    shapes = sample_shapes(subject.cls.spatial_dims, subject.cls.channels)
    for shape in shapes:
        clean = torch.rand(shape, generator=make_generator(seed))
        before = clean.clone()
        noisy = _draw(subject, clean, seed)
        where = f"input {tuple(shape)}"
        subject.expect(noisy.shape == clean.shape,
                       f"{where}: output shape {tuple(noisy.shape)} differs")
        subject.expect(noisy.dtype == torch.float32, f"{where}: output dtype is {noisy.dtype}")
        subject.expect(bool(torch.isfinite(noisy).all()), f"{where}: output is not finite")
        subject.expect(torch.equal(clean, before), f"{where}: the input was modified in place")
        subject.expect(not torch.equal(noisy, clean), f"{where}: no noise was added")
    clean = torch.rand(shapes[0], generator=make_generator(seed), dtype=torch.float64)
    dtype = _draw(subject, clean, seed).dtype
    subject.expect(dtype == torch.float64, f"float64 input gave {dtype} output")


def _check_determinism(subject: Subject, seed: int) -> None:
    shape = sample_shapes(subject.cls.spatial_dims, subject.cls.channels, batch=4)[0]
    clean = torch.rand(shape, generator=make_generator(seed))
    first = _draw(subject, clean, seed)
    assert_same(subject, first, _draw(subject, clean, seed), f"two draws with seed {seed}")
    subject.expect(not torch.equal(first, _draw(subject, clean, seed + 1)),
                   f"seeds {seed} and {seed + 1} gave the same noise")
    if subject.spec is not None:
        text = str(subject.instance.spec)
        rebuilt = subject.run(f"rebuilding from its SPEC '{text}'", subject.registry.create,
                              text)
        again = subject.run(f"noise of the rebuilt '{text}'", rebuilt, clean,
                            make_generator(seed))
        assert_same(subject, first, again, f"rebuilt from its SPEC '{text}'")


def check_noise(noise: Any, *, seed: int = 0, statistics: Statistics | None = None) -> Noise:
    """Check a noise plugin against the contract the first-party noises meet.

    Parameters
    ----------
    noise : str, Spec, type or Noise
        A registry name or SPEC (``"stripe"``, ``"stripe:sigma=10"``; the entry point is
        loaded through the registry), a :class:`~medden.noise.Noise` subclass (built with
        its defaults) or an instance.
    seed : int
        Seed of the test images and noise draws.
    statistics : callable, optional
        ``statistics(clean, noisy)``: the plugin's own check of its noise statistics.  It
        receives a flat mid-grey batch (value 0.5, shape ``(8, C, 64, 64)``, or
        ``(8, C, 4, 64, 64)`` for a 3-D-only noise, ``C`` the first supported channel count)
        and its noisy copy, and raises (e.g. ``assert``) when they are wrong.

    Returns
    -------
    Noise
        The instance that was checked.

    Raises
    ------
    ConformanceError
        The first broken rule: entry point loads to a Noise subclass; one-line summary;
        every parameter typed, defaulted and documented; ``spatial_dims`` and ``channels``
        valid (a non-empty tuple from (2, 3); None or positive counts), on the class and on
        the instance (which must not hide them with attributes of its own); for every
        declared dimensionality and channel count (1 and 3 for "any"), batch and single
        image: no exception, same shape, float32, finite, noise actually added, input
        untouched; float64 in gives float64 out; the same seed gives the same
        noise, another seed other noise; rebuilding from ``instance.spec`` gives the same
        noise.
    """
    subject = resolve(noise, noise_registry, Noise)
    check_declarations(subject, subject.cls)
    check_declarations(subject, subject.instance)
    _check_shapes(subject, seed)
    _check_determinism(subject, seed)
    if statistics is not None:
        count = (subject.cls.channels or (1,))[0]
        spatial = _STATISTICS_SPATIAL[min(subject.cls.spatial_dims)]
        clean = torch.full((8, count, *spatial), 0.5)
        statistics(clean, _draw(subject, clean, seed))
    return subject.instance
