"""medden.testing catches plugins that break the contracts, with a message saying how.

Each broken variant subclasses a well-behaved plugin without a docstring of its own, so it
inherits the documented summary and parameters and fails only on the rule it breaks.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from medden.models import Denoiser
from medden.noise import Noise
from medden.pipeline import Pipeline
from medden.testing import ConformanceError, check_model, check_noise, check_pipeline

# --- noises -------------------------------------------------------------------------------------


class GoodNoise(Noise):
    """Additive uniform noise (a well-behaved plugin).

    Parameters
    ----------
    amplitude : float
        Half-width of the uniform distribution on the [0, 1] scale.
    """

    def __init__(self, amplitude: float = 0.1) -> None:
        self.amplitude = amplitude

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return ``batch + u`` with ``u ~ U(-amplitude, amplitude)``."""
        u = torch.rand(batch.shape, generator=generator, dtype=batch.dtype)
        return batch + (2 * u - 1) * self.amplitude


class NoNoise(GoodNoise):
    # Adds nothing.

    def apply(self, batch, generator):
        return batch.clone()


class InPlaceNoise(GoodNoise):
    # Adds noise to its input in place.

    def apply(self, batch, generator):
        return batch.add_(super().apply(batch, generator) - batch)


class UnseededNoise(GoodNoise):
    # Ignores the generator it is given.

    def apply(self, batch, generator):
        return batch + torch.rand(batch.shape, dtype=batch.dtype) * self.amplitude


class SeedIgnoringNoise(GoodNoise):
    # The same 'noise' whatever the seed.

    def apply(self, batch, generator):
        return batch + self.amplitude


class CroppingNoise(GoodNoise):
    # Changes the shape.

    def apply(self, batch, generator):
        return super().apply(batch, generator)[..., 1:]


class TwoDOnlyNoise(GoodNoise):
    # Says it handles volumes but breaks on them.

    def apply(self, batch, generator):
        if batch.ndim != 4:
            raise ValueError("only 2-D images")
        return super().apply(batch, generator)


class ChannelStoringNoise(GoodNoise):
    # Keeps the channel count it was built for under the declaration's name.

    def __init__(self, amplitude: float = 0.1) -> None:
        super().__init__(amplitude)
        self.channels = 3


class FourDNoise(GoodNoise):
    # Declares a dimensionality medden has no images of.

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 4)


class UndocumentedNoise(Noise):
    """A parameter missing from the docstring."""

    def __init__(self, level: float = 1.0) -> None:
        self.level = level

    def apply(self, batch, generator):
        return batch + self.level


class RequiredParameterNoise(Noise):
    """A parameter without default.

    Parameters
    ----------
    level : float
        Offset.
    """

    def __init__(self, level: float) -> None:
        self.level = level

    def apply(self, batch, generator):
        return batch + self.level


@pytest.mark.parametrize(("noise", "message"), [
    (NoNoise, "input (2, 1, 13, 18): no noise was added"),
    (InPlaceNoise, "input was modified in place"),
    (UnseededNoise, "two draws with seed 0: outputs differ"),
    (SeedIgnoringNoise, "seeds 0 and 1 gave the same noise"),
    (CroppingNoise, "raised RuntimeError: CroppingNoise changed the shape"),
    (TwoDOnlyNoise, "noise on (2, 1, 5, 13, 18) torch.float32: raised ValueError: only 2-D "
                    "images"),
    (ChannelStoringNoise, "channels must be None or a non-empty tuple of positive channel "
                          "counts, got 3 (__init__ stores self.channels on the instance"),
    (FourDNoise, "spatial_dims must be a non-empty tuple from (2, 3), got (2, 4)"),
    (UndocumentedNoise, "parameter 'level' is not described in the class docstring"),
    (RequiredParameterNoise, "parameter 'level' needs a default value"),
    (nn.Identity, "Identity is not a subclass of Noise"),
])
def test_check_noise_catches(noise, message):
    with pytest.raises(ConformanceError) as error:
        check_noise(noise)
    assert message in str(error.value)
    assert str(error.value).startswith(noise.__qualname__)


def test_check_noise_passes_a_good_noise_and_runs_its_statistics_hook():
    seen = []

    def statistics(clean: torch.Tensor, noisy: torch.Tensor) -> None:
        seen.append(clean)
        assert (noisy - clean).abs().max() <= 0.1

    noise = check_noise(GoodNoise(amplitude=0.1), statistics=statistics)
    assert isinstance(noise, GoodNoise)
    (clean,) = seen
    assert clean.shape == (8, 1, 64, 64) and bool((clean == 0.5).all())


def test_check_noise_surfaces_a_failing_statistics_hook():
    def too_strict(clean, noisy):
        assert (noisy - clean).abs().max() <= 0.01, "noise above 0.01"

    with pytest.raises(AssertionError, match="noise above 0.01"):
        check_noise(GoodNoise, statistics=too_strict)


def test_check_noise_reports_a_broken_entry(medden_site):
    medden_site.add("acme-broken", {"medden.noise": {"acme_gone": "acme_gone:Noise"}})
    with pytest.raises(ConformanceError, match="noise 'acme_gone': entry point is broken: "
                                               "import of 'acme_gone:Noise' failed"):
        check_noise("acme_gone")


# --- models ---------------------------------------------------------------------------------


class GoodNet(Denoiser):
    """One 3x3 convolution, residual (a well-behaved learned plugin).

    Parameters
    ----------
    in_channels : int
        Image channels.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2,)

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)

    def forward(self, x):
        return x - self.conv(x)


class CroppingNet(GoodNet):
    # Loses a border.

    def forward(self, x):
        return super().forward(x)[..., 1:-1, 1:-1]


class BatchMixingNet(GoodNet):
    # Normalises with batch statistics, even in eval mode.

    def forward(self, x):
        return super().forward(x) - x.mean(dim=0, keepdim=True)


class DropoutNet(GoodNet):
    # Dropout left on in eval mode.

    def forward(self, x):
        return F.dropout(super().forward(x), 0.5, training=True)


class UnusedParameterNet(GoodNet):
    # A layer that never runs.

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__(in_channels)
        self.unused = nn.Linear(2, 2)


class PoolingNet(GoodNet):
    # Down- and up-samples without declaring size_multiple.

    def forward(self, x):
        return F.interpolate(F.max_pool2d(super().forward(x), 2), scale_factor=2)


class FixedChannelNet(Denoiser):
    """Declares 1 and 3 channels but always builds for one."""

    spatial_dims: ClassVar[tuple[int, ...]] = (2,)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class DimsStoringNet(GoodNet):
    """Stores the MONAI-style ``spatial_dims`` argument on the instance.

    Parameters
    ----------
    in_channels : int
        Image channels.
    spatial_dims : int
        Image dimensionality.
    """

    def __init__(self, in_channels: int = 1, spatial_dims: int = 2) -> None:
        super().__init__(in_channels)
        self.spatial_dims = spatial_dims  # hides the class declaration (2,)


class NoChannelsNet(GoodNet):
    # Declares no channel count at all.

    channels: ClassVar[tuple[int, ...] | None] = ()


class ParameterFreeLearnedNet(Denoiser):
    """Claims to learn but has no weights."""

    spatial_dims: ClassVar[tuple[int, ...]] = (2,)

    def forward(self, x):
        return x * 1.0


class TrainableFilter(GoodNet):
    # Claims to be classical but has weights.

    learned: ClassVar[bool] = False


class Settings:
    """Arbitrary Python object: not loadable with weights_only=True."""

    def __init__(self, gain: float) -> None:
        self.gain = gain


class PickledStateNet(GoodNet):
    # Keeps a custom object in its state_dict.

    def get_extra_state(self):
        return Settings(1.0)

    def set_extra_state(self, state):
        self.settings = state


class NumpyNet(GoodNet):
    # Part of forward runs in numpy: not scriptable, and a trace freezes it.

    def forward(self, x):
        return super().forward(x) + torch.from_numpy(np.tanh(x.detach().numpy()))


@pytest.mark.parametrize(("model", "message"), [
    (CroppingNet, "2-D, 1 channel(s), input (2, 1, 17, 23): output shape (2, 1, 15, 21)"),
    (BatchMixingNet, "the last image alone vs in the batch: outputs differ"),
    (DropoutNet, "the last image alone vs in the batch: outputs differ"),
    (UnusedParameterNet, "no gradient reaches ['unused.weight', 'unused.bias']"),
    (PoolingNet, "output shape (2, 1, 16, 22)"),
    (FixedChannelNet, "2-D, 3 channel(s), input (2, 3, 17, 23): eval-mode forward: raised "
                      "RuntimeError"),
    (DimsStoringNet, "spatial_dims must be a non-empty tuple from (2, 3), got 2 (__init__ "
                     "stores self.spatial_dims on the instance"),
    (NoChannelsNet, "channels must be None or a non-empty tuple of positive channel counts, "
                    "got ()"),
    (ParameterFreeLearnedNet, "a learned network has no trainable parameters"),
    (TrainableFilter, "declared not learned but has trainable parameters"),
    (PickledStateNet, "state_dict does not load with weights_only=True"),
    (NumpyNet, "2-D, 1 channel(s): TorchScript (trace) vs eager: outputs differ"),
])
def test_check_model_catches(model, message):
    with pytest.raises(ConformanceError) as error:
        check_model(model)
    assert message in str(error.value)


def test_torchscript_export_can_be_waived():
    assert isinstance(check_model(NumpyNet, torchscript=False), NumpyNet)


def test_check_model_builds_every_declared_channel_count():
    built = []

    class CountingNet(GoodNet):
        """GoodNet that records what it is built for.

        Parameters
        ----------
        in_channels : int
            Image channels.
        """

        def __init__(self, in_channels: int = 1) -> None:
            super().__init__(in_channels)
            built.append(in_channels)

    check_model(CountingNet)
    # the default instance, the 1- and 3-channel variants, each rebuilt for the export check
    assert built == [1, 1, 3, 1, 3]


# --- pipelines ------------------------------------------------------------------------------


class GoodPipeline(Pipeline):
    """Two convolutions in a row (a well-behaved pipeline).

    Parameters
    ----------
    in_channels : int
        Image channels.
    """

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__({"first": GoodNet(in_channels), "second": GoodNet(in_channels)})


class UnknownRecipePipeline(GoodPipeline):
    # Names a recipe the trainer does not have.

    recipe: ClassVar[str] = "magic"


class UnknownLossPipeline(GoodPipeline):
    # Names a loss the trainer does not have.

    stage_losses: ClassVar[dict[str, str]] = {"*": "mse", "second": "perceptual"}


class PlainModulePipeline(Pipeline):
    """A stage that is a bare torch module."""

    def __init__(self) -> None:
        super().__init__({"conv": nn.Conv2d(1, 1, 3, padding=1)})


class DimsStoringPipeline(Pipeline):
    """A stage that hides its spatial_dims declaration."""

    def __init__(self) -> None:
        super().__init__({"net": DimsStoringNet()})


@pytest.mark.parametrize(("pipeline", "message"), [
    (UnknownRecipePipeline, "recipe must be one of noise2clean, "),
    (DimsStoringPipeline, "stage 'net': spatial_dims must be a non-empty tuple from (2, 3), "
                          "got 2 (__init__ stores self.spatial_dims"),
    (UnknownLossPipeline, "stage 'second': default loss (stage_losses): unknown loss "
                          "'perceptual'"),
    (PlainModulePipeline, "stage 'conv' is Conv2d, not a Denoiser"),
])
def test_check_pipeline_catches(pipeline, message):
    with pytest.raises(ConformanceError) as error:
        check_pipeline(pipeline)
    assert message in str(error.value)


def test_check_pipeline_passes_a_good_pipeline():
    pipeline = check_pipeline(GoodPipeline)
    assert pipeline.stage_names == ["first", "second"]
