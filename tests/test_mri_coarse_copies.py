"""docs/examples/mri_coarse_copies.py: k-space centre crops as lower-resolution MR slices."""

from __future__ import annotations

import numpy as np
import pytest

from tests._examples import load_example

copies = load_example("mri_coarse_copies")


def test_fourier_crop_keeps_a_band_limited_image_and_its_mean():
    """A cosine the smaller matrix can hold comes back as the same cosine, sampled coarser."""
    side, small = 64, 32
    x = np.arange(side)
    image = 100.0 + 40.0 * np.cos(2 * np.pi * 3 * x / side)[None, :] * np.ones((side, 1))
    crop = copies.fourier_crop(image, small)
    coarse = np.arange(small)
    expected = 100.0 + 40.0 * np.cos(2 * np.pi * 3 * coarse / small)[None, :]
    assert crop.shape == (small, small)
    np.testing.assert_allclose(crop, np.broadcast_to(expected, crop.shape), atol=1e-9)


def test_fourier_crop_removes_detail_finer_than_the_new_matrix():
    """Stripes at a frequency the smaller matrix cannot hold are gone; the mean stays."""
    side = 64
    stripes = 100.0 + 50.0 * (np.arange(side) % 2)[None, :] * np.ones((side, 1))
    crop = copies.fourier_crop(stripes, 32)
    np.testing.assert_allclose(crop, 125.0, atol=1e-9)


def test_fourier_crop_refuses_a_non_square_or_smaller_image():
    with pytest.raises(ValueError, match="square"):
        copies.fourier_crop(np.zeros((32, 48)), 16)
    with pytest.raises(ValueError, match="square"):
        copies.fourier_crop(np.zeros((16, 16)), 32)
