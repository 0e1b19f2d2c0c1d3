"""Run a denoiser on one image of any size: slices batched, big images tiled.

Volumes go to models that support 2-D images as batches of slices, and to 3-D-only models
whole.  A learned model never sees more than one tile's worth of pixels per call
(``tile**2`` for 2-D, ``tile_3d**3`` for 3-D): slices are batched up to that budget, and an
image or volume larger than it runs through MONAI's
:class:`~monai.inferers.SlidingWindowInferer` (overlapping tiles, Gaussian blending), with
the tiles on the compute device and the stitched result on the CPU; what a pipeline decides per
image (a noise gate, a branch) it decides on the whole image, not tile by tile
(:meth:`medden.pipeline.Pipeline.decide`).  Activation memory is
therefore bounded by the tile size whatever the image size; the image itself and the
blending buffers (a few float32 copies) come on top.  Classical filters get whole slices.
Channels a model does not accept together (the volumes of a 4-D NIfTI, RGB for a model
built for grey images, such as a grey bundle) are denoised one at a time.  On the CPU, the
2-D convolution weights of learned models are stored channels-last (:func:`channels_last`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from medden.ensemble import DihedralEnsemble
from medden.models import built_spatial_dims

__all__ = ["Capabilities", "Denoising", "SLICE_BATCH_PIXELS", "channel_plan", "channels_last",
           "run_fitting_channels", "supported_channels"]

#: Called with the number of slices (2-D images count as one) just finished.
Progress = Callable[[int], None]


def _built_channels(network: nn.Module) -> int | None:
    """The channel count a model was built for: its ``in_channels`` (SPEC, else default)."""
    spec = getattr(network, "spec", None)
    value = spec.params.get("in_channels") if spec is not None else None
    if value is None:
        parameter = inspect.signature(type(network)).parameters.get("in_channels")
        value = None if parameter is None else parameter.default
    if isinstance(value, str) and value.strip().isdigit():  # SPEC values are strings
        value = int(value)
    return value if isinstance(value, int) else None


def supported_channels(network: nn.Module) -> tuple[int, ...] | None:
    """Channel counts ``network`` *as built* accepts (``None`` = any); pipelines: all of
    their stages.  A model class may take 1 or 3 channels while an instance is built for
    one of them (``in_channels=1``): that one."""
    stages = getattr(network, "stages", None)
    if stages is None:
        built = _built_channels(network)
        return (built,) if built is not None else getattr(network, "channels", None)
    allowed: set[int] | None = None
    for stage in stages.values():
        counts = supported_channels(stage)
        if counts is not None:
            allowed = set(counts) if allowed is None else allowed & set(counts)
    return None if allowed is None else tuple(sorted(allowed))


def channels_last(network: nn.Module) -> nn.Module:
    """Store the 4-D parameters and buffers of ``network`` channels-last (NHWC), in place.

    oneDNN's CPU convolutions take and give NHWC tensors then, instead of reordering each
    layer's input and output from NCHW (the X-ray bundle: 0.27-0.29 -> 0.21-0.23 s per 512²
    image on 2 cores; docs/benchmarks.md).  The values, the state dict and a digest of its
    contiguous tensors are unchanged; the outputs change by float rounding only.  Also a
    TorchScript module; 5-D weights (3-D networks) are left as they are.

    Returns
    -------
    nn.Module
        ``network`` itself.
    """
    for tensor in [*network.parameters(), *network.buffers()]:
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return network


def channel_plan(supported: tuple[int, ...] | None, channels: int) -> str:
    """How a network taking ``supported`` channels (None: any) denoises an image of
    ``channels``: ``"as is"``; ``"per channel"`` (a gray network, a colour image: one channel
    at a time); ``"widen"`` (a colour-only network, a gray image: the gray value in all three
    channels, as RGB files store a monochrome sensor's image and as such networks were trained
    on monochrome camera noise, and the three outputs averaged back to one).

    Raises
    ------
    ValueError
        When neither fits (e.g. a 2-channel image for a colour network).
    """
    if supported is None or channels in supported:
        return "as is"
    if 1 in supported:
        return "per channel"
    if channels == 1 and 3 in supported:
        return "widen"
    raise ValueError(f"the model takes {supported} channels, the image has {channels}")


def run_fitting_channels(network: nn.Module, supported: tuple[int, ...] | None,
                         x: torch.Tensor) -> torch.Tensor:
    """``network`` on a batch ``(N, C, *spatial)`` of any channel count it can take by
    :func:`channel_plan`, as :class:`Denoising` gives it images (for callers that run a
    network on whole batches, such as ``medden benchmark``); the output has ``x``'s shape.

    Parameters
    ----------
    network : nn.Module
        A model or pipeline.
    supported : tuple of int or None
        The channel counts it takes (:func:`supported_channels`; None: any).
    x : torch.Tensor
        The batch.
    """
    plan = channel_plan(supported, x.shape[1])
    if plan == "per channel":
        return torch.cat([network(x[:, c:c + 1]) for c in range(x.shape[1])], dim=1)
    if plan == "widen":
        return network(x.expand(-1, 3, *x.shape[2:]).contiguous()).mean(dim=1, keepdim=True)
    return network(x)


#: Most pixels of volume slices a learned 2-D network gets in one call.  Small slices gain
#: from sharing a call; a 512² CT slice does not: 16 of them took 4.2-5.7 s four per call
#: against 3.5-4.6 s one per call (CT bundle, 2 CPU cores; docs/benchmarks.md, issue 25).
SLICE_BATCH_PIXELS = 512 * 512


@dataclass(frozen=True)
class Capabilities:
    """What :class:`Denoising` needs to know of a network as built.

    A TorchScript module keeps no Python attributes and no torch layer classes, so a bundle's
    ``model.ts`` carries these, taken from the network it was scripted from
    (:mod:`medden.bundle_torchscript`).

    Attributes
    ----------
    spatial_dims : tuple of int
        Image dimensionalities it accepts (:func:`~medden.models.built_spatial_dims`).
    channels : tuple of int or None
        Channel counts it accepts, None: any (:func:`supported_channels`).
    learned : bool
        A learned network (gets tiles and a pixel budget), or a classical filter.
    """

    spatial_dims: tuple[int, ...]
    channels: tuple[int, ...] | None
    learned: bool

    @classmethod
    def of(cls, network: nn.Module) -> Capabilities:
        """The capabilities of an eager ``network`` (model or pipeline)."""
        return cls(built_spatial_dims(network), supported_channels(network),
                   bool(getattr(network, "learned", True)))


class Denoising:
    """Apply a denoiser (model or pipeline) to ``(C, H, W)`` images and ``(C, D, H, W)`` volumes.

    A colour image given to a gray (1-channel) network is denoised channel by channel; a gray
    image given to a colour-only network gets its value in all three channels and the mean
    of the three outputs.

    Parameters
    ----------
    network : nn.Module
        A :class:`~medden.models.Denoiser` or :class:`~medden.pipeline.Pipeline`.
    tile : int
        Tile edge (pixels) of 2-D sliding-window inference for learned models: images of up
        to ``tile**2`` pixels are denoised in one call.
    tile_3d : int
        Tile edge (voxels) of 3-D sliding-window inference.
    overlap : float
        Tile overlap fraction.
    slice_batch : int
        At most this many slices of a volume are denoised together by 2-D models, and learned
        ones take at most :data:`SLICE_BATCH_PIXELS` pixels of slices per call.
    tile_batch : int
        Tiles run through the network together (multiplies the budget per call).
    device : str
        Torch device of the network and of the tiles.
    self_ensemble : bool
        Average each tile over its 8 flips and quarter turns
        (:class:`~medden.ensemble.DihedralEnsemble`): a little better, 8 times slower.
    capabilities : Capabilities, optional
        What ``network`` accepts; by default read from it (:meth:`Capabilities.of`), which
        needs the eager module (give them for a TorchScript one).
    """

    def __init__(
        self,
        network: nn.Module,
        tile: int = 512,
        tile_3d: int = 96,
        overlap: float = 0.25,
        slice_batch: int = 8,
        tile_batch: int = 1,
        device: str = "cpu",
        self_ensemble: bool = False,
        capabilities: Capabilities | None = None,
    ) -> None:
        if tile < 16 or tile_3d < 8 or slice_batch < 1 or tile_batch < 1:
            raise ValueError(f"need tile >= 16, tile_3d >= 8, slice_batch >= 1 and "
                             f"tile_batch >= 1, got {tile}, {tile_3d}, {slice_batch}, "
                             f"{tile_batch}")
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        self.device = torch.device(device)
        network = network.to(self.device).eval()
        capabilities = capabilities or Capabilities.of(network)
        if capabilities.learned and self.device.type == "cpu":
            channels_last(network)
        # Pipelines that decide per image (a noise gate, a branch) take their decisions
        # from the whole image before it is tiled (medden.pipeline); TorchScript exports
        # made before that have no ``decide`` and decide tile by tile.
        self.decides_per_image = hasattr(network, "decide")
        self.network = DihedralEnsemble(network) if self_ensemble else network
        self.spatial_dims = capabilities.spatial_dims
        self.channels = capabilities.channels
        self.learned = capabilities.learned
        self.tiles = {2: tile, 3: tile_3d}
        self.overlap = overlap
        self.slice_batch = slice_batch
        self.tile_batch = tile_batch

    def _budget(self, dims: int) -> int:
        """Pixels (voxels) a learned model gets per call."""
        return self.tiles[dims] ** dims * self.tile_batch

    def _slices_per_call(self, slice_shape: tuple[int, ...]) -> int:
        if not self.learned:
            return self.slice_batch
        return max(1, min(self.slice_batch, SLICE_BATCH_PIXELS // math.prod(slice_shape)))

    def _run(self, batch: torch.Tensor) -> torch.Tensor:
        """Denoise a CPU batch ``(B, C, *spatial)``; the result is on the CPU."""
        size = batch.shape[2:]
        tile = self.tiles[len(size)]
        if self.learned and math.prod(size) > self._budget(len(size)):
            # imported here: importing MONAI takes seconds, and only tiling needs it
            from monai.inferers import SlidingWindowInferer

            inferer = SlidingWindowInferer(
                roi_size=[min(tile, s) for s in size], sw_batch_size=self.tile_batch,
                overlap=self.overlap, mode="gaussian", padding_mode="reflect",
                sw_device=self.device, device=torch.device("cpu"),
            )
            if not self.decides_per_image:
                return inferer(batch, self.network)
            return torch.cat([self._tiled_with_decisions(inferer, image)
                              for image in batch.split(1)])
        return self.network(batch.to(self.device)).cpu()

    def _tiled_with_decisions(self, inferer: Callable[..., torch.Tensor],
                              image: torch.Tensor) -> torch.Tensor:
        """Tile one image ``(1, C, *spatial)`` with the decisions taken on all of it."""
        decisions = self.network.decide(image.to(self.device))

        def tiles(batch: torch.Tensor) -> torch.Tensor:
            return self.network.forward_decided(batch, decisions.expand(batch.shape[0], -1))

        return inferer(image, tiles)

    def _widens(self, channels: int) -> bool:
        return channel_plan(self.channels, channels) == "widen"

    def _groups(self, channels: int) -> list[slice]:
        if channel_plan(self.channels, channels) == "per channel":
            return [slice(c, c + 1) for c in range(channels)]
        return [slice(0, channels)]

    def steps(self, shape: tuple[int, ...]) -> int:
        """Progress units :meth:`__call__` reports for an image of ``shape``."""
        slices = shape[1] if len(shape) == 4 else 1
        return slices * len(self._groups(shape[0]))

    @torch.inference_mode()
    def __call__(
        self,
        image: torch.Tensor,
        *,
        out: torch.Tensor | None = None,
        progress: Progress | None = None,
    ) -> torch.Tensor:
        """Denoise one image ``(C, H, W)`` or volume ``(C, D, H, W)`` (CPU tensors).

        Parameters
        ----------
        image : torch.Tensor
            Normalised image, float32 in about [0, 1].
        out : torch.Tensor, optional
            Where to put the result (same shape); may be ``image`` itself, which saves one
            copy of a volume: each batch of slices is read before it is overwritten.
        progress : callable, optional
            Called with the number of slices finished after each batch (a 2-D image is
            one slice; channels denoised one at a time count separately, see
            :meth:`steps`).

        Returns
        -------
        torch.Tensor
            The denoised image, same shape as ``image`` (``out`` when given).
        """
        dims = image.ndim - 1
        slicewise = dims == 3 and 2 in self.spatial_dims
        if not slicewise and dims not in self.spatial_dims:
            raise ValueError(
                f"the model supports {self.spatial_dims}-D images, got a {dims}-D image"
            )
        if self._widens(image.shape[0]):
            colour = self(image.expand(3, *image.shape[1:]).contiguous(), progress=progress)
            return torch.mean(colour, dim=0, keepdim=True, out=out)
        if out is None:
            out = torch.empty_like(image)
        for group in self._groups(image.shape[0]):
            if slicewise:
                step = self._slices_per_call(tuple(image.shape[2:]))
                for start in range(0, image.shape[1], step):
                    stop = min(start + step, image.shape[1])
                    batch = image[group, start:stop].transpose(0, 1)  # slices as a batch
                    out[group, start:stop] = self._run(batch).transpose(0, 1)
                    if progress is not None:
                        progress(stop - start)
            else:
                out[group] = self._run(image[group].unsqueeze(0))[0]
                if progress is not None:
                    progress(image.shape[1] if dims == 3 else 1)
        return out
