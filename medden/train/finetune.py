"""Transfer learning: start from trained weights, adapt channels, freeze parts, lower the rate.

:func:`initialise_from` loads a checkpoint (or bundle) into a freshly built pipeline.  When
the new data has another channel count (grey X-ray/CT/MRI 1 <-> RGB dermoscopy/microscopy
3), only the tensors touching the image channels differ — the first and last convolutions
of each stage — and they are adapted so that the network behaves the same on grey content:

* input channels 1 -> 3: the kernel is repeated over the 3 inputs and divided by 3 (an RGB
  image with equal channels gives the old response); 3 -> 1: the kernels are summed.
* output channels 1 -> 3: the kernel and bias are repeated (each colour predicted as the
  grey was); 3 -> 1: they are averaged (the luminance-like mean of the colours).

With ``grow=True`` the trained weights load into a *wider* network of the same layout
(more features per layer, e.g. ``features=[48|96|192|384]`` instead of ``[32|64|128|256]``):
each trained tensor fills the leading block of the larger one, the weights from the new
channels into the trained ones are zeroed and the rest keeps its random initialisation, so
the wider network starts out computing exactly what the trained one did (checked on a
random image) and training can put the new channels to use.  This works for networks
without normalisation layers, whose every channel is a convolution output.

:func:`finetune_config` turns a trained run's config into a fine-tuning run on new data.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from medden.errors import UsageError
from medden.pipeline import Pipeline
from medden.requirements import require_installed
from medden.train.checkpoint import build_pipeline, read_checkpoint
from medden.train.config import TrainConfig, apply_overrides, config_from_dict

__all__ = ["adapt_tensor", "grow_tensor", "adapt_state_dict", "initialise_from",
           "frozen_parameters", "encoder_parameters", "finetune_config"]

def _grey_rgb_layout(count: int, other: int) -> tuple[int, int] | None:
    """``(fold, extra)`` when ``count`` and ``other`` channels are the same layer for grey and
    RGB images: ``fold`` channels per colour (1; 4 or 8 when 2x2(x2) pixel blocks are folded
    into channels, FFDNet-style, colour-major as ``pixel_unshuffle`` orders them) and then
    ``extra`` channels that are not the image's (0, or 1: a noise-level map)."""
    low, high = sorted((count, other))
    if (high - low) % 2:
        return None
    fold = (high - low) // 2
    extra = low - fold
    return (fold, extra) if fold in (1, 4, 8) and extra in (0, 1) else None


def adapt_tensor(source: torch.Tensor, shape: torch.Size, name: str) -> torch.Tensor:
    """Adapt ``source`` to ``shape`` when they differ only in image channels (grey <-> RGB,
    also when pixel blocks are folded into channels and a noise map follows them).

    Convolution weights are ``(out, in, *kernel)``, biases ``(out,)``.

    Raises
    ------
    UsageError
        When the shapes differ in another way.
    """
    differ = [d for d, (a, b) in enumerate(zip(source.shape, shape, strict=False)) if a != b]
    pair = (source.shape[differ[0]], shape[differ[0]]) if len(differ) == 1 else None
    layout = _grey_rgb_layout(*pair) if pair else None
    if source.ndim != len(shape) or layout is None or differ[0] > 1 or (
            differ[0] == 1 and source.ndim < 3):
        raise UsageError(f"cannot adapt '{name}' from {tuple(source.shape)} to {tuple(shape)}: "
                         "only grey <-> RGB image channels can be adapted")
    dim, (fold, extra) = differ[0], layout
    image = source.narrow(dim, 0, source.shape[dim] - extra)
    rest = source.narrow(dim, source.shape[dim] - extra, extra)
    if pair[0] < pair[1]:  # grey -> RGB: each colour as the grey was
        image = torch.cat([image] * 3, dim=dim)
        image = image / 3.0 if dim == 1 else image
    else:  # RGB -> grey: inputs summed, outputs averaged over the colours
        colours = image.unflatten(dim, (3, fold))
        image = colours.sum(dim=dim) if dim == 1 else colours.mean(dim=dim)
    return torch.cat([image, rest], dim=dim)


def grow_tensor(source: torch.Tensor, target: torch.Tensor, name: str,
                transposed: bool = False) -> torch.Tensor:
    """``target`` with ``source`` in its leading block and the new-input -> trained-output
    weights zeroed (see the module docstring).

    Parameters
    ----------
    source : torch.Tensor
        Trained weight ``(out, in, *kernel)`` (``(in, out, *kernel)`` when ``transposed``)
        or bias ``(out,)``.
    target : torch.Tensor
        The wider network's freshly initialised tensor; no dimension smaller than
        ``source``'s and the same kernel size.
    name : str
        Tensor name, for the error message.
    transposed : bool
        ``source`` is a transposed convolution's weight.

    Raises
    ------
    UsageError
        When ``target`` is not a widened ``source``.
    """
    if source.ndim != target.ndim or any(a > b for a, b in zip(source.shape, target.shape,
                                                                   strict=True)) \
            or source.shape[2:] != target.shape[2:]:
        raise UsageError(f"cannot grow '{name}' from {tuple(source.shape)} to "
                         f"{tuple(target.shape)}: only the number of channels can grow")
    grown = target.detach().clone()
    grown[tuple(slice(0, n) for n in source.shape)] = source
    if source.ndim >= 2:
        out_dim, in_dim = (1, 0) if transposed else (0, 1)
        into_trained = [slice(None)] * source.ndim
        into_trained[out_dim] = slice(0, source.shape[out_dim])
        into_trained[in_dim] = slice(source.shape[in_dim], None)
        grown[tuple(into_trained)] = 0.0
    return grown


def adapt_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                     grow: bool = False, transposed: frozenset[str] = frozenset(),
                     ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``source`` weights shaped like ``target``'s; returns them and the adapted names.

    Parameters
    ----------
    source, target : dict
        Trained and new state dicts.
    grow : bool
        Grow narrower tensors into wider ones (:func:`grow_tensor`) instead of adapting
        image channels.
    transposed : frozenset of str
        Names of transposed-convolution weights (their in/out dimensions are swapped).

    Raises
    ------
    UsageError
        When keys differ or a tensor cannot be adapted.
    """
    missing = sorted(set(target) - set(source))
    unexpected = sorted(set(source) - set(target))
    if missing or unexpected:
        raise UsageError(f"the trained weights do not match the pipeline: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    adapted, names = {}, []
    for key, tensor in target.items():
        value = source[key]
        if value.shape != tensor.shape:
            value = grow_tensor(value, tensor, key, key in transposed) if grow \
                else adapt_tensor(value, tensor.shape, key)
            names.append(key)
        adapted[key] = value.to(tensor.dtype)
    return adapted, names


def _transposed_weights(module: nn.Module) -> frozenset[str]:
    return frozenset(f"{name}.weight" for name, m in module.named_modules()
                     if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d,
                                          nn.ConvTranspose3d)))


def _check_grown(pipeline: Pipeline, data: dict, channels: int, weights: str | Path) -> None:
    """Raise unless the grown ``pipeline`` denoises a random image as the trained one does."""
    trained = build_pipeline(data["run"])
    trained.load_state_dict(data["model"])
    was_training = pipeline.training
    image = torch.rand(1, channels, 64, 64, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            same = torch.allclose(pipeline.eval()(image), trained.eval()(image), atol=1e-4)
    except RuntimeError as exc:
        raise UsageError(f"cannot grow '{weights}' into this pipeline: {exc}") from None
    finally:
        pipeline.train(was_training)
    if not same:
        raise UsageError(f"growing '{weights}' into this pipeline changes its output: only "
                         "the widths of a network without normalisation layers can grow "
                         "(same image channels, same layers)")


def initialise_from(pipeline: Pipeline, weights: str | Path, grow: bool = False,
                    channels: int = 1) -> list[str]:
    """Load trained weights into ``pipeline``, adapting channel counts or growing widths;
    returns the names of the adapted tensors.

    Weights of another pipeline kind load when their tensors have the same names (a
    ``single`` network into a ``prefiltered`` pipeline around the same model).

    Parameters
    ----------
    pipeline : Pipeline
        Freshly built pipeline to load into.
    weights : str or Path
        Checkpoint file, run folder or bundle folder.
    grow : bool
        ``pipeline`` is a wider version of the trained one (see the module docstring); the
        result is checked to compute what the trained network does.
    channels : int
        Image channels of the check run when growing.

    Raises
    ------
    UsageError
        When the checkpoint is not for this pipeline architecture, or growing it would
        change what it computes.
    """
    data = read_checkpoint(weights)
    source_name = data["run"]["pipeline"]["name"]
    target = pipeline.state_dict()
    if source_name != pipeline.spec.name and set(data["model"]) != set(target):
        raise UsageError(f"'{weights}' holds a '{source_name}' pipeline, not "
                         f"'{pipeline.spec.name}'")
    state, adapted = adapt_state_dict(data["model"], target, grow,
                                      _transposed_weights(pipeline) if grow else frozenset())
    pipeline.load_state_dict(state)
    if grow:
        _check_grown(pipeline, data, channels, weights)
    return adapted


def encoder_parameters(stage: nn.Module, channels: int) -> set[int]:
    """Ids of the parameters of a stage's encoder.

    The encoder is found by running the stage once on a blank 64 x 64 image: it is every
    parametrised layer that runs before the first layer whose output is at the coarsest
    resolution the stage reaches (for networks that never downsample, the first half of
    the layers).
    """
    calls: list[tuple[nn.Module, int]] = []

    def record(module: nn.Module, _inputs: tuple, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.ndim >= 3:
            calls.append((module, output.shape[2:].numel()))

    layers = [m for m in stage.modules() if next(m.parameters(recurse=False), None) is not None]
    hooks = [m.register_forward_hook(record) for m in layers]
    try:
        with torch.no_grad():
            stage.eval()(torch.zeros(1, channels, 64, 64))
    finally:
        for hook in hooks:
            hook.remove()
    sizes = [size for _, size in calls]
    coarsest = min(sizes)
    cut = len(calls) // 2 if coarsest == max(sizes) else sizes.index(coarsest)
    return {id(p) for module, _ in calls[:cut] for p in module.parameters(recurse=False)}


def frozen_parameters(pipeline: Pipeline, freeze: list[str], channels: int) -> set[int]:
    """Ids of the parameters that ``freeze`` (``encoder``, ``stage1``) keeps fixed.

    ``encoder`` freezes the encoder (:func:`encoder_parameters`) of every stage.

    Raises
    ------
    UsageError
        When a part to freeze does not exist in the pipeline.
    """
    frozen: set[int] = set()
    if "stage1" in freeze:
        if len(pipeline.stages) < 2:
            raise UsageError("freeze 'stage1' needs a pipeline with two or more stages")
        first = pipeline.stages[pipeline.stage_names[0]]
        frozen |= {id(p) for p in first.parameters()}
    if "encoder" in freeze:
        encoder: set[int] = set()
        for stage in pipeline.stages.values():
            encoder |= encoder_parameters(stage, channels)
        if not encoder:
            raise UsageError("freeze 'encoder': the pipeline has no encoder layers")
        frozen |= encoder
    return frozen


def _scale_rates(config: dict, lr: float | None, lr_scale: float) -> None:
    """Set the learning rate of ``config`` to ``lr`` (or ``lr_scale`` x its own) and scale
    the schedule's ``min_lr`` by the same factor, at most the new rate."""
    optimizer = config.setdefault("optimizer", {})
    original = float(optimizer.get("lr", 1e-3))
    optimizer["lr"] = lr if lr is not None else original * lr_scale
    schedule = config.get("schedule") or {}
    if schedule.get("min_lr"):
        schedule["min_lr"] = min(float(schedule["min_lr"]) * optimizer["lr"] / original,
                                 optimizer["lr"])


def finetune_config(weights: str | Path, data: list[str], output: str,
                    freeze: list[str] | None = None, minutes: float | None = None,
                    epochs: int | None = None, lr: float | None = None,
                    lr_scale: float = 0.1, overrides: list[str] | None = None) -> TrainConfig:
    """The config of fine-tuning a trained pipeline on new images.

    Starts from the checkpoint's own training config and keeps its recipe, noise, patch
    and augmentation settings; the data folders are replaced (dataset-specific keys —
    modality, patient pattern, channel conversion, held-out folders — are reset), the
    learning rate is ``lr`` or ``lr_scale`` times the original (the schedule's floor
    ``min_lr`` scaled alike, so that a schedule never raises the rate), and the weights are
    loaded (adapting 1 <-> 3 channels) before training.

    Parameters
    ----------
    weights : str or Path
        Checkpoint file, run folder or bundle folder.
    data : list of str
        Folders of the new training images.
    output : str
        New run folder.
    freeze : list of str, optional
        ``encoder`` and/or ``stage1``.
    minutes, epochs : optional
        Budget (wall-clock and/or epochs per phase).
    lr : float, optional
        Learning rate; default ``lr_scale`` x the original rate.
    lr_scale : float
        Factor applied to the original learning rate when ``lr`` is not given.
    overrides : list of str, optional
        Further ``key=value`` overrides.

    Raises
    ------
    UsageError
        Unreadable checkpoint, a plugin distribution it was made with not installed, or
        invalid resulting config.
    """
    source = read_checkpoint(weights)
    require_installed(source["run"].get("plugins") or {}, f"fine-tuning '{weights}'")
    base = copy.deepcopy(source["run"]["config"])
    base["pipeline"] = source["run"]["pipeline"]
    base_data = base.get("data", {})
    for key in ("val", "pairs"):
        base_data[key] = []
    for key in ("modality", "patient_pattern", "channels"):
        base_data[key] = None
    base_data["train"] = list(data)
    base["output"] = str(output)
    base["init"] = {"weights": str(weights), "freeze": list(freeze or [])}
    _scale_rates(base, lr, lr_scale)
    base["minutes"] = minutes
    if epochs is not None:
        base["epochs"] = epochs
        base["stage_epochs"] = {}
    return config_from_dict(apply_overrides(base, overrides or []))
