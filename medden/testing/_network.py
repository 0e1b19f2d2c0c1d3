"""Checks shared by models and pipelines: both are ``nn.Module`` s from noisy to clean."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from medden.noise import make_generator
from medden.params import describe_parameters
from medden.testing._common import Subject, assert_same, check_declarations

__all__ = ["AWKWARD_SIZES", "Variant", "variants", "check_network"]

#: Spatial sizes every network must take: odd, prime, non-square, smaller than a typical
#: down-sampling factor (2-D), and a small anisotropic volume (3-D).
AWKWARD_SIZES: dict[int, tuple[tuple[int, ...], ...]] = {
    2: ((17, 23), (7, 9)),
    3: ((5, 9, 11),),
}

#: Batch size of the checks (several images, to compare with one-by-one results).
_BATCH = 2


@dataclass
class Variant:
    """One network built for one dimensionality and channel count."""

    dims: int
    channels: int
    network: nn.Module
    overrides: dict[str, int]

    def __str__(self) -> str:
        return f"{self.dims}-D, {self.channels} channel(s)"


def variants(subject: Subject, dims: tuple[int, ...],
             channels: tuple[int, ...] | None) -> list[Variant]:
    """The network built for every declared dimensionality and channel count.

    A plugin whose ``__init__`` declares ``in_channels`` / ``spatial_dims`` (the MONAI
    names) is rebuilt with each value; otherwise the one instance must take them all.
    ``channels=None`` (any count) is exercised with 1 and 3 channels.
    """
    declared = {p.name for p in describe_parameters(subject.cls)}
    built = []
    for dim in dims:
        for count in channels or (1, 3):
            overrides = {}
            if "spatial_dims" in declared:
                overrides["spatial_dims"] = dim
            if "in_channels" in declared:
                overrides["in_channels"] = count
            network = subject.build(**overrides) if overrides else subject.instance
            built.append(Variant(dim, count, network, overrides))
    return built


def _sample(variant: Variant, size: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.rand((_BATCH, variant.channels, *size), generator=make_generator(seed))


def _check_forward(subject: Subject, variant: Variant, seed: int) -> torch.Tensor:
    """Eval-mode forward on every awkward size; returns the output for the first one."""
    network = variant.network.eval()
    outputs = []
    for size in AWKWARD_SIZES[variant.dims]:
        x = _sample(variant, size, seed)
        before = x.clone()
        where = f"{variant}, input {tuple(x.shape)}"
        with torch.no_grad():
            out = subject.run(f"{where}: eval-mode forward", network, x)
            subject.expect(isinstance(out, torch.Tensor),
                           f"{where}: forward returned {type(out).__name__}, not a tensor")
            subject.expect(out.shape == x.shape, f"{where}: output shape {tuple(out.shape)}")
            subject.expect(out.dtype == x.dtype, f"{where}: output dtype {out.dtype}")
            subject.expect(bool(torch.isfinite(out).all()), f"{where}: output is not finite")
            subject.expect(torch.equal(x, before), f"{where}: the input was modified in place")
            # also catches randomness left on in eval mode (dropout, noise injection)
            alone = subject.run(f"{where}: forward of one image", network, x[1:])
            assert_same(subject, out[1:], alone,
                        f"{where}: the last image alone vs in the batch", atol=1e-4)
        outputs.append(out)
    return outputs[0]


def _check_backward(subject: Subject, variant: Variant, seed: int, every_parameter: bool) -> None:
    network = variant.network.train()
    trainable = [(n, p) for n, p in network.named_parameters() if p.requires_grad]
    subject.expect(bool(trainable), f"{variant}: a learned network has no trainable parameters")
    network.zero_grad()
    x = _sample(variant, AWKWARD_SIZES[variant.dims][0], seed)
    target = _sample(variant, AWKWARD_SIZES[variant.dims][0], seed + 1)
    subject.run(f"{variant}: train-mode forward and backward",
                lambda: torch.nn.functional.mse_loss(network(x), target).backward())
    missing = [n for n, p in trainable if p.grad is None]
    if every_parameter:
        subject.expect(not missing, f"{variant}: no gradient reaches {missing[:5]}")
    grads = [p.grad for _, p in trainable if p.grad is not None]
    subject.expect(bool(grads) and any(bool(g.abs().sum() > 0) for g in grads),
                   f"{variant}: the loss gradient is zero for every parameter")
    subject.expect(all(bool(torch.isfinite(g).all()) for g in grads),
                   f"{variant}: non-finite gradients")
    network.zero_grad()
    network.eval()


def _check_export(subject: Subject, variant: Variant, seed: int, expected: torch.Tensor) -> None:
    """Weights saved and loaded as a bundle does reproduce ``expected`` (first-size output)."""
    buffer = io.BytesIO()
    torch.save(variant.network.state_dict(), buffer)
    buffer.seek(0)
    try:
        state = torch.load(buffer, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report why the weights cannot be shipped
        raise subject.fail(f"{variant}: state_dict does not load with weights_only=True: "
                           f"{exc}") from exc
    fresh = subject.build(**variant.overrides).eval()
    subject.run(f"{variant}: load_state_dict into a rebuilt instance", fresh.load_state_dict,
                state)
    with torch.no_grad():
        out = subject.run(f"{variant}: forward of the rebuilt instance", fresh,
                          _sample(variant, AWKWARD_SIZES[variant.dims][0], seed))
    assert_same(subject, expected, out, f"{variant}: rebuilt from its SPEC and saved weights")


def _check_torchscript(subject: Subject, variant: Variant, seed: int) -> None:
    """``torch.jit.script``, else ``torch.jit.trace``, reproduces the eager outputs.

    The export is compared on a second input too, so a trace that froze part of the
    computation into constants (numpy code, Python-side randomness) is caught.
    """
    network = variant.network.eval()
    x, other = (_sample(variant, AWKWARD_SIZES[variant.dims][0], s) for s in (seed, seed + 1))
    exporters = {
        "script": torch.jit.script,
        "trace": lambda module: torch.jit.trace(module, x, check_trace=False),
    }
    errors = []
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and tracer warnings
        for how, export in exporters.items():
            try:
                exported = export(network)
                outputs = [exported(x), exported(other)]
            except Exception as exc:  # noqa: BLE001 - any failure means "not exportable so"
                errors.append(f"{how}: {type(exc).__name__}: {str(exc).strip()[:200]}")
                continue
            for sample, out in zip((x, other), outputs, strict=True):
                assert_same(subject, network(sample), out,
                            f"{variant}: TorchScript ({how}) vs eager", atol=1e-5)
            return
    raise subject.fail(f"{variant}: neither torch.jit.script nor torch.jit.trace works: "
                       f"{'; '.join(errors)}")


def check_network(subject: Subject, dims: tuple[int, ...], channels: tuple[int, ...] | None,
                  learned: bool, seed: int, every_parameter: bool,
                  torchscript: bool = True) -> None:
    """Forward on awkward sizes, backward (learned only) and weight export, per variant.

    Parameters
    ----------
    subject : Subject
        The model or pipeline.
    dims, channels : tuple
        Declared spatial dimensionalities and channel counts (``None`` = any).
    learned : bool
        Whether it has weights to train (then gradients must reach them).
    seed : int
        Seed of the test inputs.
    every_parameter : bool
        Require a gradient for every trainable parameter (models), not just some
        (pipelines, whose stages may be trained one at a time).
    torchscript : bool
        For learned networks, require TorchScript export (of the first variant).
    """
    check_declarations(subject, subject.instance)
    for index, variant in enumerate(variants(subject, dims, channels)):
        check_declarations(subject, variant.network, f"{variant}: ")
        _check_export(subject, variant, seed, _check_forward(subject, variant, seed))
        if learned and torchscript and index == 0:
            _check_torchscript(subject, variant, seed)
        if learned:  # last: a train-mode forward updates normalisation statistics
            _check_backward(subject, variant, seed, every_parameter)
        else:
            subject.expect(not any(p.requires_grad for p in variant.network.parameters()),
                           f"{variant}: declared not learned but has trainable parameters")
