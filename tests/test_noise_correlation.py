"""Correlated noise is told from noise independent between pixels, and ``medden adapt``
chooses its recipe by it (Neighbor2Neighbor and the plain blind spot assume independence)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from medden.errors import UsageError
from medden.io import scan
from medden.noise import make_generator
from medden.noise_correlation import CORRELATED, detail_correlation, noise_is_correlated
from medden.registry import noise_registry
from medden.train.adapt import choose_recipe


def _scene(size: int = 128) -> np.ndarray:
    """Smooth anatomy-like content with an edge, 0-255."""
    y, x = np.mgrid[:size, :size]
    return 90 + 60 * np.exp(-((x - 64) ** 2 + (y - 60) ** 2) / 900.0) + 40 * (x > 90)


def _white(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 12, (128, 128))


def _correlated(seed: int) -> np.ndarray:
    """White noise blurred over about a pixel: neighbouring pixels correlated."""
    return ndimage.gaussian_filter(_white(seed), 0.8) * 3


def test_white_noise_is_near_zero_and_correlated_noise_is_not():
    white = [detail_correlation(_scene() + _white(s)) for s in range(4)]
    smooth = [detail_correlation(_scene() + _correlated(s)) for s in range(4)]
    assert max(abs(v) for v in white) < 0.04
    assert min(abs(v) for v in smooth) > 2 * CORRELATED
    assert noise_is_correlated([_scene() + _white(s) for s in range(3)])[0] is False
    assert noise_is_correlated([_scene() + _correlated(s) for s in range(3)])[0] is True
    assert np.isnan(detail_correlation(np.zeros((8, 8))))
    assert noise_is_correlated([np.zeros((4, 4))]) == (False, pytest.approx(np.nan, nan_ok=True))


def _folder(tmp_path, name: str, noise) -> list:
    folder = tmp_path / name
    folder.mkdir()
    for seed in range(3):
        image = np.clip(_scene() + noise(seed), 0, 255).round().astype(np.uint8)
        Image.fromarray(image).save(folder / f"{seed}.png")
    return scan(folder).items


def test_adapt_chooses_its_recipe_by_the_noise(tmp_path):
    white = _folder(tmp_path, "white", _white)
    shaped = _folder(tmp_path, "shaped", _correlated)
    recipe, extra, value = choose_recipe(white, None, [])
    assert (recipe, extra) == ("neighbor2neighbor", []) and abs(value) < CORRELATED
    recipe, extra, value = choose_recipe(shaped, None, [])
    assert (recipe, extra) == ("n2v2", ['self_supervised.struct="box"']) and value < -CORRELATED
    assert choose_recipe(shaped, "n2v2", ["self_supervised.struct=row"])[:2] == ("n2v2", [])
    with pytest.raises(UsageError, match="correlated between neighbouring pixels"):
        choose_recipe(shaped, "neighbor2neighbor", [])
    assert choose_recipe(shaped, "noise2noise", [])[:2] == ("noise2noise", [])


def test_filtered_back_projection_noise_counts_as_correlated():
    y, x = np.mgrid[:128, :128]
    hu = np.where((x - 64) ** 2 + (y - 64) ** 2 < 55 ** 2, 40.0, -1000.0)  # water in air
    image = torch.from_numpy(((hu + 1024) / 4095).astype(np.float32))[None]
    noisy = noise_registry.create("ct_texture:hu=40")(image, make_generator(0))
    assert noise_is_correlated([noisy[0].numpy()])[0] is True
