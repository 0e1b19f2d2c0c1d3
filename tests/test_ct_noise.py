"""Low-dose CT noise (``ct_lowdose``) and its fast image-domain model (``ct_texture``):
statistics on a water phantom, not shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medden.intensity import CT_WINDOW
from medden.noise import make_generator
from medden.registry import noise_registry
from medden_noise.ct import CTLowDoseNoise, CTTextureNoise

SIZE = 128
HU_SCALE = CT_WINDOW[1] - CT_WINDOW[0]
CENTRE = (slice(44, 84), slice(44, 84))
#: The square inside the water disk whose noise power spectrum is measured.
SQUARE = (slice(32, 96), slice(32, 96))


def water_phantom(size: int = SIZE, radius: float = 54.0) -> torch.Tensor:
    """A water disk (0 HU) in air (-1000 HU), normalised with the CT window, ``(1, 1, H, W)``."""
    rows, cols = np.ogrid[:size, :size]
    disk = (rows - size / 2) ** 2 + (cols - size / 2) ** 2 <= radius ** 2
    hu = np.where(disk, 0.0, -1000.0)
    return torch.from_numpy(((hu - CT_WINDOW[0]) / HU_SCALE).astype(np.float32))[None, None]


def noise_hu(noise, clean: torch.Tensor, seeds: range) -> np.ndarray:
    """Noise realisations in HU, ``(len(seeds), H, W)``."""
    return np.stack([((noise(clean, make_generator(s)) - clean)[0, 0] * HU_SCALE).numpy()
                     for s in seeds])


def radial_nps(noise: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Mean periodogram of ``noise`` (realisations of one square ROI) in radial bins,
    normalised by the noise variance (so the mean over the spectrum is 1)."""
    centred = noise - noise.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(centred)) ** 2).mean(axis=0)
    power /= power.mean()
    side = noise.shape[-1]
    freq = np.sqrt(np.fft.fftfreq(side)[:, None] ** 2 + np.fft.fftfreq(side)[None, :] ** 2)
    which = np.digitize(freq.ravel(), bins) - 1
    return np.array([power.ravel()[which == b].mean() for b in range(len(bins) - 1)])


@pytest.fixture(scope="module")
def phantom():
    return water_phantom()


#: Pixel size of the phantom: a 22 cm water disk, about an abdomen.
PIXEL_MM = 2.0


def lowdose(**params) -> CTLowDoseNoise:
    return CTLowDoseNoise(views=SIZE, pixel_mm=PIXEL_MM, **params)


def test_noise_std_scales_as_one_over_sqrt_dose(phantom):
    stds = {i0: noise_hu(lowdose(i0=i0), phantom, range(6))[:, CENTRE[0], CENTRE[1]].std()
            for i0 in (1e4, 4e4, 1.6e5)}
    assert stds[1e4] / stds[4e4] == pytest.approx(2.0, rel=0.10)
    assert stds[4e4] / stds[1.6e5] == pytest.approx(2.0, rel=0.10)


def test_dose_fraction_is_the_matching_photon_count(phantom):
    by_dose = lowdose(dose=0.25, full_dose_i0=3e5)(phantom, make_generator(3))
    by_i0 = lowdose(i0=3e5 * 0.25 / 0.75)(phantom, make_generator(3))
    assert torch.equal(by_dose, by_i0)
    with pytest.raises(ValueError, match="dose"):
        CTLowDoseNoise(dose=1.5)


def test_water_mean_is_unbiased_within_2_hu(phantom):
    noise = noise_hu(lowdose(i0=5e4), phantom, range(10))[:, CENTRE[0], CENTRE[1]]
    assert noise.std() > 5.0  # there is noise to be biased
    assert abs(noise.mean()) < 2.0


def test_noise_power_spectrum_is_ramp_like_not_white(phantom):
    noise = noise_hu(lowdose(i0=5e4), phantom, range(8))[:, SQUARE[0], SQUARE[1]]
    nps = radial_nps(noise, np.array([0.0, 0.05, 0.2, 0.35]))
    low, mid = nps[0], nps[2]
    assert low < 0.3 * mid


def test_smooth_kernel_gives_less_and_coarser_noise(phantom):
    ramp = noise_hu(lowdose(i0=5e4), phantom, range(4))[:, CENTRE[0], CENTRE[1]]
    hann = noise_hu(lowdose(i0=5e4, kernel="hann"), phantom, range(4))[:, CENTRE[0], CENTRE[1]]
    assert hann.std() < 0.8 * ramp.std()
    bins = np.array([0.0, 0.15, 0.3, 0.5])
    assert radial_nps(hann, bins)[2] < radial_nps(ramp, bins)[2]


def test_outside_the_reconstruction_circle_is_untouched():
    clean = torch.rand((1, 1, 40, 40), generator=make_generator(0)) * 0.3
    out = lowdose(i0=1e4)(clean, make_generator(1))
    assert torch.equal(out[..., 0, 0], clean[..., 0, 0])
    assert not torch.equal(out[..., 20, 20], clean[..., 20, 20])


@pytest.mark.parametrize("kernel", ["ramp", "hann"])
def test_texture_model_matches_the_projection_simulation(phantom, kernel):
    """Same noise power spectrum (within 10 % in every band) and, with ``attenuation``, the
    same standard deviation in the centre and near the edge of the body (within 10 %)."""
    projected = noise_hu(lowdose(i0=5e4, kernel=kernel), phantom, range(8))
    body = (phantom[0, 0] * HU_SCALE + CT_WINDOW[0] > -500).numpy()
    level = projected[:, body].std()
    texture = noise_hu(CTTextureNoise(hu=float(level), kernel=kernel, attenuation=True,
                                      pixel_mm=PIXEL_MM),
                       phantom, range(8))
    bins = np.array([0.02, 0.1, 0.2, 0.3, 0.4])  # above 0.4 the power is below 2 % of its peak
    np.testing.assert_allclose(radial_nps(texture[:, SQUARE[0], SQUARE[1]], bins),
                               radial_nps(projected[:, SQUARE[0], SQUARE[1]], bins), rtol=0.10)
    edge = (slice(60, 68), slice(16, 24))
    for region in (CENTRE, edge):
        assert texture[:, region[0], region[1]].std() == pytest.approx(
            projected[:, region[0], region[1]].std(), rel=0.10)
    centre_to_edge = projected[:, CENTRE[0], CENTRE[1]].std() / projected[:, edge[0],
                                                                          edge[1]].std()
    assert centre_to_edge > 1.1  # the rays through the centre cross more water


def test_texture_level_in_hu_and_log_uniform_range():
    clean = torch.full((32, 1, 64, 64), 0.25)
    residual = (noise_registry.create("ct_texture:hu=5,hu_max=100,kernel=random")(
        clean, make_generator(0)) - clean) * HU_SCALE
    stds = residual.flatten(1).std(dim=1)
    assert stds.min() > 5 * 0.85 and stds.max() < 100 * 1.15
    assert (stds < 22.4).sum() >= 8 and (stds > 22.4).sum() >= 8  # geometric mean of 5, 100
    fixed = (CTTextureNoise(hu=30)(clean[:1], make_generator(1)) - clean[:1]) * HU_SCALE
    assert fixed.std().item() == pytest.approx(30, rel=0.05)


def test_target_hu_sets_the_photons_per_image():
    """``hu`` reaches the asked noise in the body whatever the patient's size."""
    small, large = water_phantom(radius=30.0), water_phantom(radius=60.0)
    for phantom_ in (small, large):
        body = (phantom_[0, 0] * HU_SCALE + CT_WINDOW[0] > -500).numpy()
        noise = noise_hu(lowdose(hu=30.0), phantom_, range(3))
        assert noise[:, body].std() == pytest.approx(30.0, rel=0.08)
    fixed = [noise_hu(lowdose(i0=1e5), p, range(1))[0] for p in (small, large)]
    assert fixed[1].std() > 1.3 * fixed[0][fixed[0] != 0].std()  # a fixed dose: larger is noisier
