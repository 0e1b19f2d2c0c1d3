"""Conformance of every registered model and pipeline to the Denoiser contract.

In the style of timm's per-model tests: each entry of ``model_registry`` and
``pipeline_registry`` is built with its default parameters (inputs are tiny, widths are
never shrunk) and checked for declared parameters, forward on awkward 2D sizes with 1 and 3
channels, batch independence, eval-mode determinism, finite gradients, 3D forward where
declared, and TorchScript export (script, else trace).  An entry the registry reports as
broken is skipped with the registry's reason.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch import nn

from medden.pipeline import Pipeline
from medden.registry import Registry, model_registry, pipeline_registry

#: Learned entries that can be neither scripted nor traced, with the reason.
NOT_EXPORTABLE: dict[str, str] = {}

#: Entries whose default configuration is slow even on these tiny inputs (marked ``slow``).
SLOW: dict[str, str] = {
    "bm3d": "about 1.4 s CPU per 67x93 gray image and 14 s for the 16x20x24 volume",
    "bm4d": "about 3x BM3D on these inputs",
}

#: Run-time settings (never widths) that keep an entry's checks short: the contract does not
#: depend on how long a per-image fit runs.
LIGHT: dict[str, dict[str, Any]] = {
    "zero_shot": {"steps": 3, "crops": 1},
}

HEIGHT, WIDTH = 67, 93
VOLUME = (16, 20, 24)

ENTRIES = [
    pytest.param(kind, name, id=f"{kind}:{name}",
                 marks=[pytest.mark.slow] if name in SLOW else [])
    for kind, names in (("model", model_registry.names()),
                        ("pipeline", pipeline_registry.names()))
    for name in names
]


def _registry(kind: str) -> Registry:
    return model_registry if kind == "model" else pipeline_registry


def _require_ok(kind: str, name: str) -> Registry:
    registry = _registry(kind)
    state, detail = registry.status(name)
    if state != "ok":
        pytest.skip(f"{kind} '{name}' is {state}: {detail}")
    return registry


def _build(kind: str, name: str, **params: Any) -> nn.Module:
    """Build with default parameters plus those of ``params`` the plugin declares."""
    registry = _require_ok(kind, name)
    declared = {p.name for p in registry.parameters(name)}
    torch.manual_seed(0)
    params = {**LIGHT.get(name, {}), **params}
    return registry.create(name, **{k: v for k, v in params.items() if k in declared})


def _channels(module: nn.Module) -> tuple[int, ...] | None:
    """Channel counts a model (or every stage of a pipeline) supports; ``None`` = any."""
    if isinstance(module, Pipeline):
        supported: set[int] | None = None
        for stage in module.stages.values():
            own = _channels(stage)
            if own is not None:
                supported = set(own) if supported is None else supported & set(own)
        return None if supported is None else tuple(sorted(supported))
    return getattr(module, "channels", (1, 3))


def _build_for(kind: str, name: str, channels: int, spatial_dims: int = 2) -> nn.Module:
    """Build for ``channels`` and ``spatial_dims`` or skip when the entry does not support it."""
    model = _build(kind, name)
    supported = _channels(model)
    if supported is not None and channels not in supported:
        pytest.skip(f"{kind} '{name}' supports channels {supported}, not {channels}")
    if spatial_dims not in model.spatial_dims:
        pytest.skip(f"{kind} '{name}' supports spatial dims {model.spatial_dims}")
    if channels != 1 or spatial_dims != 2:
        model = _build(kind, name, in_channels=channels, spatial_dims=spatial_dims)
    return model


def _input(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _learned(module: nn.Module) -> bool:
    return bool(getattr(module, "learned", True))


@pytest.mark.parametrize(("kind", "name"), ENTRIES)
def test_declares_documented_parameters(kind: str, name: str) -> None:
    """A one-line summary, and every parameter has a default, a type and a help text."""
    registry = _require_ok(kind, name)
    status, summary = registry.status(name)
    assert summary, f"{name}: class docstring has no one-line summary"
    for param in registry.parameters(name):
        assert not param.required, f"{name}.{param.name} has no default"
        assert param.type_name != "any", f"{name}.{param.name} has no type annotation"
        assert param.help, f"{name}.{param.name} is not documented in 'Parameters'"


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(("kind", "name"), ENTRIES)
def test_forward_2d(kind: str, name: str, channels: int) -> None:
    """An awkward 2D size (67x93): same shape and dtype out, finite values."""
    model = _build_for(kind, name, channels).eval()
    x = _input(1, channels, HEIGHT, WIDTH)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert y.dtype == x.dtype
    assert torch.isfinite(y).all()


@pytest.mark.parametrize(("kind", "name"), ENTRIES)
def test_eval_deterministic_and_batch_independent(kind: str, name: str) -> None:
    """In eval mode two forwards agree, and an image's output does not depend on its batch."""
    model = _build_for(kind, name, 1).eval()
    x = _input(2, 1, HEIGHT, WIDTH, seed=1)
    with torch.no_grad():
        batch = model(x)
        first, second = model(x[1:]), model(x[1:])
    torch.testing.assert_close(first, second, rtol=0.0, atol=1e-6)
    torch.testing.assert_close(first, batch[1:], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("kind", "name"), ENTRIES)
def test_forward_with_noise_map(kind: str, name: str) -> None:
    """Entries accepting a noise map take a ``(B, 1, *spatial)`` map (sigma/255) and use it."""
    model = _build_for(kind, name, 1).eval()
    if not getattr(model, "accepts_noise_map", False):
        pytest.skip(f"{kind} '{name}' takes no noise map")
    x = _input(1, 1, HEIGHT, WIDTH, seed=6)
    with torch.no_grad():
        low = model(x, torch.full((1, 1, HEIGHT, WIDTH), 5 / 255))
        high = model(x, torch.full((1, 1, HEIGHT, WIDTH), 50 / 255))
    assert low.shape == x.shape
    assert low.dtype == x.dtype
    assert torch.isfinite(low).all() and torch.isfinite(high).all()
    assert not torch.allclose(low, high)


@pytest.mark.parametrize(("kind", "name"), ENTRIES)
def test_backward_gives_finite_gradients(kind: str, name: str) -> None:
    """Every trainable parameter receives a finite gradient, not all of them zero."""
    model = _build_for(kind, name, 1)
    if not _learned(model):
        pytest.skip(f"{kind} '{name}' is not learned")
    params = [p for p in model.parameters() if p.requires_grad]
    assert params, f"{name} is declared learned but has no trainable parameters"
    model.train()
    x, target = _input(2, 1, HEIGHT, WIDTH, seed=2), _input(2, 1, HEIGHT, WIDTH, seed=3)
    loss = torch.mean((model(x) - target) ** 2)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in params)
    assert any(p.grad.abs().sum() > 0 for p in params)


@pytest.mark.parametrize(("kind", "name"), ENTRIES)
def test_forward_3d(kind: str, name: str) -> None:
    """Entries declaring 3 in ``spatial_dims`` denoise a tiny volume."""
    model = _build_for(kind, name, 1, spatial_dims=3).eval()
    x = _input(1, 1, *VOLUME, seed=4)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert y.dtype == x.dtype
    assert torch.isfinite(y).all()


def _export(model: nn.Module, x: torch.Tensor) -> tuple[str, list[str]]:
    """Export by ``torch.jit.script``, else ``torch.jit.trace``; check against eager."""
    errors: list[str] = []
    with torch.no_grad():
        expected = model(x)
        other = x[..., : HEIGHT - 19, : WIDTH - 29]
        try:
            scripted = torch.jit.script(model)
            torch.testing.assert_close(scripted(x), expected)
            torch.testing.assert_close(scripted(other), model(other))
            return "script", errors
        except Exception as exc:  # noqa: BLE001 - any failure means "not scriptable"
            errors.append(f"script: {type(exc).__name__}: {str(exc).strip()[:300]}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                traced = torch.jit.trace(model, x, check_trace=False)
            torch.testing.assert_close(traced(x), expected)
            return "trace", errors
        except Exception as exc:  # noqa: BLE001 - any failure means "not traceable"
            errors.append(f"trace: {type(exc).__name__}: {str(exc).strip()[:300]}")
    return "none", errors


@pytest.mark.parametrize(("kind", "name"), ENTRIES)
def test_torchscript_export(kind: str, name: str, record_property: Any) -> None:
    """Learned entries script or trace (outputs equal eager), unless in NOT_EXPORTABLE."""
    model = _build_for(kind, name, 1).eval()
    if not _learned(model):
        pytest.skip(f"{kind} '{name}' is not learned: nothing to export")
    how, errors = _export(model, _input(1, 1, HEIGHT, WIDTH, seed=5))
    record_property("torchscript", how)
    if name in NOT_EXPORTABLE:
        assert how == "none", (
            f"{name} now exports by {how}: remove it from NOT_EXPORTABLE "
            f"({NOT_EXPORTABLE[name]})"
        )
    else:
        assert how != "none", f"{name} can be neither scripted nor traced: {errors}"


def test_exception_lists_name_registered_entries() -> None:
    """NOT_EXPORTABLE and SLOW name only registered entries (no stale exceptions)."""
    registered = set(model_registry.names()) | set(pipeline_registry.names())
    assert set(NOT_EXPORTABLE) <= registered
    assert set(SLOW) <= registered and set(LIGHT) <= registered
