"""Tests of medden.intensity: exact inverse and the per-modality strategies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medden.intensity import CT_MAP, CT_WINDOW, IntensityMap, fit_intensity, hold_outside_window
from medden.io import read_image
from medden.io.image import ImageMeta, MedicalImage

REAL_CT = Path(__file__).parent / "data" / "ct_slice_tcga_60_2724.dcm"


def image_of(data: np.ndarray, dtype: str, modality: str | None = None,
             fmt: str = "raster") -> MedicalImage:
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    meta = ImageMeta(None, fmt, np.dtype(dtype), modality, (float(info.min), float(info.max)))
    return MedicalImage(np.asarray(data, dtype=np.float32), meta)


def test_inverse_is_exact_for_arrays_and_tensors():
    mapping = IntensityMap(offset=-1024.0, scale=4095.0)
    hu = np.arange(-1024, 3072, dtype=np.float32)
    normalised = mapping.normalise(hu)
    assert normalised.dtype == np.float32
    assert normalised[0] == 0.0 and normalised[-1] == 1.0
    back = mapping.denormalise(normalised)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, hu, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(np.rint(back), hu)  # integers come back exactly

    tensor = torch.linspace(-5000.0, 5000.0, 1001, dtype=torch.float64)  # beyond the window
    out = mapping.normalise(tensor)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert out.min() < 0 and out.max() > 1  # no clipping
    torch.testing.assert_close(mapping.denormalise(out), tensor.float(), rtol=0, atol=1e-3)


def test_dict_round_trip_and_validation():
    mapping = IntensityMap(offset=12.5, scale=300.25)
    assert IntensityMap.from_dict(json.loads(json.dumps(mapping.to_dict()))) == mapping
    with pytest.raises(ValueError):
        IntensityMap(offset=0.0, scale=0.0)
    with pytest.raises(ValueError):
        IntensityMap(offset=float("nan"), scale=1.0)


def test_ct_uses_the_fixed_hu_window():
    image = read_image(REAL_CT)
    mapping = fit_intensity(image)
    assert (mapping.offset, mapping.offset + mapping.scale) == CT_WINDOW == (-1024.0, 3071.0)
    # sigma = 25 on the 0-255 scale is about 401 HU on this window
    assert 25 / 255 * mapping.scale == pytest.approx(401.47, abs=0.01)
    normalised = mapping.normalise(image.data)
    assert 0.0 <= normalised.min() and normalised.max() <= 1.0
    # air (about -1000 HU) sits near 0.006
    assert mapping.normalise(np.array([-1000.0], np.float32))[0] == pytest.approx(24 / 4095)


def test_percentiles_for_xray_and_unknown_16bit():
    rng = np.random.default_rng(0)
    data = rng.gamma(2.0, 200.0, size=(1, 64, 64)).round()
    data[0, 0, :10] = 60000.0  # outliers do not set the scale
    for modality, fmt in (("DX", "dicom"), (None, "raster")):
        image = image_of(data, "uint16", modality, fmt)
        mapping = fit_intensity(image)
        low, high = np.percentile(image.data, [0.5, 99.5])
        assert mapping.offset == pytest.approx(low) and mapping.scale == pytest.approx(high - low)
        assert mapping.scale < 5000
    nifti = image_of(data, "int16", None, "nifti")
    assert fit_intensity(nifti, "ct") == IntensityMap(-1024.0, 4095.0)
    assert fit_intensity(nifti, "xray").offset == pytest.approx(np.percentile(data, 0.5))


def test_rgb_asks_for_the_full_range_of_8_bits_only():
    twelve_bits = image_of(np.linspace(100, 340, 64).reshape(1, 8, 8), "uint16")
    mapping = fit_intensity(twelve_bits, "rgb")  # not /65535: the percentiles
    assert mapping.offset == pytest.approx(np.percentile(twelve_bits.data, 0.5))
    assert mapping.scale < 300


def test_8bit_and_rgb_use_the_full_range():
    gray = image_of(np.full((1, 8, 8), 40.0), "uint8")
    rgb = image_of(np.full((3, 8, 8), 40.0), "uint8", "RGB")
    for image in (gray, rgb):
        assert fit_intensity(image) == IntensityMap(0.0, 255.0)
    # an 8-bit DICOM labelled CT (screen capture) is not put in the HU window
    assert fit_intensity(image_of(np.zeros((1, 4, 4)), "uint8", "CT", "dicom")) == (
        IntensityMap(0.0, 255.0)
    )
    # an explicit modality overrides the 8-bit rule
    assert fit_intensity(gray, "xray") == IntensityMap(40.0, 1.0)  # constant image: scale 1


def test_unknown_modality_and_empty_images_are_errors():
    image = image_of(np.zeros((1, 4, 4)), "uint16")
    with pytest.raises(ValueError, match="unknown modality"):
        fit_intensity(image, "ctt")
    with pytest.raises(ValueError, match="no finite"):
        fit_intensity(image_of(np.full((1, 2, 2), np.nan), "float32", fmt="nifti"))


def test_ct_pixels_outside_the_window_are_held_and_put_back_exactly():
    hu = np.array([[-3024.0, -1024.0, 40.0], [3071.0, 3500.0, -2000.0]], np.float32)
    data = CT_MAP.normalise(hu)
    original = data.copy()
    held = hold_outside_window(data, CT_MAP)
    assert held is not None
    assert sorted(held.indices.tolist()) == [0, 4, 5]
    assert data.min() == 0.0 and data.max() == 1.0  # the denoiser sees the window only
    np.testing.assert_array_equal(data.reshape(-1)[[1, 2, 3]], original.reshape(-1)[[1, 2, 3]])
    data[:] = 0.5  # whatever the denoiser made of them
    held.put_back(data)
    np.testing.assert_array_equal(data.reshape(-1)[[0, 4, 5]], original.reshape(-1)[[0, 4, 5]])


def test_only_ct_holds_and_nothing_outside_holds_nothing():
    tails = np.array([-0.2, 0.5, 1.3], np.float32)  # percentile tails of an MR image
    assert hold_outside_window(tails.copy(), IntensityMap(offset=0.0, scale=1.0)) is None
    assert hold_outside_window(np.array([0.0, 0.5, 1.0], np.float32), CT_MAP) is None


def _inverted(image: MedicalImage) -> MedicalImage:
    image.meta.inverted = True
    return image


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_an_image_displayed_white_at_its_minimum_is_turned_round(dtype):
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 4096 if dtype == "uint16" else 256, (40, 50)).astype(dtype)
    plain = fit_intensity(image_of(stored[None], dtype))
    turned = fit_intensity(_inverted(image_of(stored[None], dtype)))
    assert turned.scale == -plain.scale < 0
    # the same window, its ends swapped: displayed black -> 0, displayed white -> 1
    np.testing.assert_allclose(turned.normalise(stored), 1.0 - plain.normalise(stored), atol=1e-6)
    back = turned.denormalise(turned.normalise(stored.astype(np.float32)))
    np.testing.assert_array_equal(np.rint(back), stored)


def test_ct_in_hu_is_never_turned_round():
    image = _inverted(read_image(REAL_CT))
    assert fit_intensity(image) == CT_MAP


def test_mr_magnitude_keeps_zero_at_zero():
    rng = np.random.default_rng(1)
    clean = np.zeros((64, 64))
    clean[16:48, 16:48] = 3000.0
    coils = rng.normal(clean / np.sqrt(8), 100.0, (8, 2, 64, 64))  # 8 coils, real and imaginary
    magnitude = np.sqrt((coils ** 2).sum(axis=(0, 1)))  # its background: a χ floor near 400
    image = image_of(magnitude[None], "uint16", modality="MR", fmt="dicom")
    mapping = fit_intensity(image)
    assert mapping.offset == 0.0
    assert mapping.scale == pytest.approx(np.percentile(magnitude, 99.5))
    assert fit_intensity(image, "mri") == mapping
    # the percentiles would have put the floor's lower tail at 0
    assert fit_intensity(image, "xray").offset > 200.0
    # nothing above zero: the percentiles
    negative = image_of(-magnitude[None], "int16", modality="MR", fmt="dicom")
    assert fit_intensity(negative).offset == pytest.approx(np.percentile(-magnitude, 0.5))
