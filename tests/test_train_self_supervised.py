"""Self-supervised recipes: Neighbor2Neighbor and N2V2 / structN2V learn from noisy images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _train_support import tiny_config, write_images
from PIL import Image

from medden.train import ConfigError, config_from_dict, train
from medden.train.self_supervised import (
    BlindSpotObjective,
    Neighbor2NeighborLoss,
    neighbor_choice,
    subsample,
    subsampled_pairs,
)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("ssl_images"), count=6, size=64)


def _mean(history, key, rows):
    return float(np.mean([float(history[i][key]) for i in rows]))


@pytest.mark.parametrize("recipe, extra", [
    ("neighbor2neighbor", {}),
    ("n2v2", {"self_supervised": {"masked_fraction": 0.05}}),
])
def test_recipe_lowers_its_loss_and_raises_psnr_against_clean(images, tmp_path, recipe, extra):
    # synthetic noisy inputs: the recipe sees only them; the clean images score validation
    config = tiny_config(images, tmp_path / "run", recipe=recipe, epochs=8, **extra)
    result = train(config_from_dict(config))
    history = result.history
    assert result.phases == [recipe] and len(history) == 8
    assert _mean(history, "train_loss", [-2, -1]) < _mean(history, "train_loss", [0, 1])
    assert result.final_metrics["psnr"] > result.input_metrics["psnr"] + 3.0


def test_noisy_only_images_validate_on_subsampled_pairs(tmp_path, images):
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    rng = np.random.default_rng(0)
    for path in sorted(images.iterdir()):
        clean = np.asarray(Image.open(path), dtype=np.float64)
        value = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).round()
        Image.fromarray(value.astype(np.uint8)).save(noisy / path.name)
    config = tiny_config(noisy, tmp_path / "run", recipe="neighbor2neighbor", epochs=6,
                         monitor="loss", data__noisy=True)
    result = train(config_from_dict(config))
    # identity on the pairs: about twice the noise variance (25/255)^2
    assert result.input_metrics["loss"] == pytest.approx(2 * (25 / 255) ** 2, rel=0.3)
    assert result.final_metrics["loss"] < 0.75 * result.input_metrics["loss"]
    assert result.best_score == pytest.approx(-min(float(r["loss"]) for r in result.history))


def test_noisy_only_data_needs_a_self_supervised_recipe(images, tmp_path):
    with pytest.raises(ConfigError, match="'data.noisy'.*self-supervised recipe"):
        config_from_dict(tiny_config(images, tmp_path, data__noisy=True))
    with pytest.raises(ConfigError, match="masked_fraction"):
        config_from_dict(tiny_config(images, tmp_path, recipe="n2v2",
                                     self_supervised={"masked_fraction": 0.9}))


def test_neighbor_subsampler_pairs_4_neighbours_of_each_cell():
    y = torch.arange(2 * 3 * 8 * 10, dtype=torch.float32).reshape(2, 3, 8, 10)
    first, second = neighbor_choice(y.shape, torch.Generator().manual_seed(1))
    a, b = subsample(y, first), subsample(y, second)
    assert a.shape == b.shape == (2, 3, 4, 5)
    rows, cols = a.remainder(80).div(10, rounding_mode="floor"), a.remainder(10)
    rows_b, cols_b = b.remainder(80).div(10, rounding_mode="floor"), b.remainder(10)
    assert torch.all((rows - rows_b).abs() + (cols - cols_b).abs() == 1)  # 4-neighbours
    assert torch.equal(rows.div(2, rounding_mode="floor"), rows_b.div(2, rounding_mode="floor"))
    assert torch.equal(a[:, 0] + 80, a[:, 1])  # one choice for every channel
    again = subsampled_pairs({"input": y})
    assert all(torch.equal(u, v) for u, v in zip(again, subsampled_pairs({"input": y}),
                                                  strict=True))  # fixed for validation


def test_neighbor2neighbor_loss_is_noise2noise_plus_regulariser():
    f1, g2 = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    ff1, ff2 = torch.full((1, 1, 2, 2), 0.5), torch.zeros(1, 1, 2, 2)
    assert Neighbor2NeighborLoss(gamma=2.0)((f1, g2, ff1, ff2)) == pytest.approx(1 + 2 * 0.25)


@pytest.mark.parametrize("struct", ["none", "row", "column", "box"])
def test_blind_spot_hides_the_masked_pixel_and_its_struct_neighbours(struct):
    seen = {}

    def network(x):
        seen["input"] = x
        return x

    torch.manual_seed(0)
    y = torch.rand(8, 1, 9, 9)
    # one masked pixel per 9 x 9 image
    objective = BlindSpotObjective(network, masked_fraction=1 / 81, struct=struct,
                                   struct_span=3)
    predicted, noisy = objective(y)
    assert predicted.numel() == noisy.numel() == 8
    assert torch.all(predicted != noisy)  # the masked pixel is replaced
    for changed in seen["input"] != y:
        rows, cols = torch.nonzero(changed[0], as_tuple=True)
        height, width = int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1
        assert (height, width) <= {"none": (1, 1), "row": (1, 3), "column": (3, 1),
                                   "box": (3, 3)}[struct]
        assert len(rows) > (0 if struct == "none" else 1)  # trimmed at the border only


def test_blind_spot_replacement_never_copies_the_pixel_itself():
    y = torch.arange(16.0).reshape(1, 1, 4, 4)  # all values differ
    objective = BlindSpotObjective(torch.nn.Identity(), masked_fraction=1.0 / 4)
    assert torch.all(objective._replacement(y) != y)
