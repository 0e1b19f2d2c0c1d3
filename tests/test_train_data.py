"""Training data: loading any format, slices of volumes, patient splits, seeded samples."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from _train_support import tiny_config, write_images

from medden.errors import UsageError
from medden.registry import noise_registry
from medden.spec import SpecError
from medden.train.config import AugmentConfig, ConfigError, DataConfig, config_from_dict
from medden.train.data import build_data, load_records, split_records
from medden.train.losses import build_loss


def test_volumes_contribute_slices_and_rasters_are_normalised(tmp_path):
    write_images(tmp_path / "png", count=2, size=40)
    volume = np.linspace(-1000, 1000, 4 * 40 * 40, dtype=np.float32).reshape(40, 40, 4)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / "png" / "ct.nii.gz")
    records = load_records([str(tmp_path / "png")], DataConfig(modality="ct"))
    slices = [r for r in records if r["source"].endswith("]")]
    assert len(records) == 6 and len(slices) == 4
    assert all(r["image"].shape == (1, 40, 40) for r in records)
    assert all(0.0 <= r["image"].min() and r["image"].max() <= 1.0 for r in records)
    assert len({r["group"] for r in slices}) == 1  # a volume's slices stay together


def test_channel_conversion_and_mismatch(tmp_path):
    write_images(tmp_path / "mixed", count=2, rgb=True)
    write_images(tmp_path / "mixed", count=1, seed=3)  # overwrites p00 with a grey image
    with pytest.raises(UsageError, match="different channel counts"):
        load_records([str(tmp_path / "mixed")], DataConfig())
    grey = load_records([str(tmp_path / "mixed")], DataConfig(channels=1))
    assert {r["image"].shape[0] for r in grey} == {1}
    rgb = load_records([str(tmp_path / "mixed")], DataConfig(channels=3))
    assert {r["image"].shape[0] for r in rgb} == {3}


def test_patient_split_holds_out_whole_patients(tmp_path):
    records = [{"group": f"patient:{i // 3}", "image": np.zeros((1, 4, 4))} for i in range(12)]
    train, val = split_records(records, 0.25, seed=1)
    assert len(val) == 3 and len(train) == 9
    assert not {r["group"] for r in train} & {r["group"] for r in val}
    assert split_records(records, 0.25, seed=1)[1] == val  # reproducible
    folder = write_images(tmp_path / "p", count=4)
    config = DataConfig(patient_pattern=r"^p(\d)\d_")
    groups = {r["group"] for r in load_records([str(folder)], config)}
    assert groups == {"patient:0"}  # p00..p03 -> "0" for every file
    with pytest.raises(UsageError, match="finds no patient id"):
        load_records([str(folder)], DataConfig(patient_pattern=r"^x(\d)"))


def test_samples_are_seeded_per_epoch_and_index(tmp_path):
    folder = write_images(tmp_path / "img", count=4)
    noise = noise_registry.create("gaussian:sigma=25")
    config = DataConfig(train=[str(folder)], patch_size=24, val_fraction=0.25)
    data = build_data(config, noise, seed=7, batch_size=2, noisy_target=False)
    assert (data.train_images, data.val_images, data.channels) == (3, 1, 1)
    first = data.train[0]
    assert first["input"].shape == first["target"].shape == (1, 24, 24)
    assert torch.equal(data.train[0]["input"], first["input"])  # same epoch: same draw
    data.train.set_epoch(1)
    assert not torch.equal(data.train[0]["input"], first["input"])  # fresh every epoch
    residual = (first["input"] - first["target"]).std().item()
    assert residual == pytest.approx(25 / 255, rel=0.25)
    again = build_data(config, noise, seed=7, batch_size=2, noisy_target=False)
    assert torch.equal(again.train[0]["input"], first["input"])  # reproducible by seed
    val_before = data.val[0]["input"]
    data.val.set_epoch(5)
    assert torch.equal(data.val[0]["input"], val_before)  # validation noise is fixed


def test_noise2noise_targets_are_independent_realisations(tmp_path):
    folder = write_images(tmp_path / "img", count=3)
    noise = noise_registry.create("gaussian:sigma=25")
    data = build_data(DataConfig(train=[str(folder)], patch_size=None, val_fraction=0.0),
                      noise, seed=0, batch_size=1, noisy_target=True)
    sample = data.train[0]
    difference = (sample["input"] - sample["target"]).std().item()
    assert difference == pytest.approx(np.sqrt(2) * 25 / 255, rel=0.2)


def test_intensity_augmentation_darkens_the_clean_patch_before_the_noise(tmp_path):
    folder = write_images(tmp_path / "img", count=2)
    noise = noise_registry.create("gaussian:sigma=25")

    def first_sample(augment: AugmentConfig) -> dict:
        config = DataConfig(train=[str(folder)], patch_size=None, val_fraction=0.0,
                            augment=augment)
        return build_data(config, noise, seed=3, batch_size=1, noisy_target=False).train[0]

    plain = first_sample(AugmentConfig())
    dark = first_sample(AugmentConfig(intensity=(0.4, 0.4), prob=1.0))
    assert torch.allclose(dark["target"], 0.4 * plain["target"], atol=1e-6)
    # the noise is drawn on the darkened image: its level does not shrink with it
    residual = (dark["input"] - dark["target"]).std().item()
    assert residual == pytest.approx(25 / 255, rel=0.25)


def test_losses():
    x = torch.zeros(2, 1, 16, 16)
    y = torch.full_like(x, 0.5)
    assert build_loss("mse")(x, y).item() == pytest.approx(0.25)
    assert build_loss("l1")(x, y).item() == pytest.approx(0.5)
    assert build_loss("charbonnier:eps=0.001")(x, y).item() == pytest.approx(0.5, abs=1e-5)
    image = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert build_loss("ssim")(image, image).item() == pytest.approx(0.0, abs=1e-5)
    noisy = (image + 0.1 * torch.randn(image.shape, generator=torch.Generator().manual_seed(1)))
    ssim = build_loss("ssim")(noisy, image).item()
    mse = build_loss("mse")(noisy, image).item()
    combined = build_loss("mse_ssim:mse_weight=2,ssim_weight=0.5")(noisy, image).item()
    assert ssim > 0.05 and combined == pytest.approx(2 * mse + 0.5 * ssim, rel=1e-5)
    with pytest.raises(SpecError, match="unknown loss 'huber'; valid losses: mse, l1"):
        build_loss("huber")


def test_log_mse_averages_the_images_psnr_not_their_error():
    target = torch.zeros(2, 1, 8, 8)
    prediction = target.clone()
    prediction[0] += 0.1     # MSE 1e-2: PSNR 20 dB
    prediction[1] += 0.01    # MSE 1e-4: PSNR 40 dB
    loss = build_loss("log_mse")
    assert loss(prediction, target).item() == pytest.approx(-30.0, abs=1e-4)
    # halving the weakly noisy image's error gains as much as halving the noisy one's
    # (3 dB each), where MSE would count the noisy one 100 times more
    first, second = prediction.clone(), prediction.clone()
    first[0] /= 2 ** 0.5
    second[1] /= 2 ** 0.5
    assert loss(first, target).item() == pytest.approx(loss(second, target).item(), abs=1e-4)
    mse = build_loss("mse")
    gain_noisy = (mse(prediction, target) - mse(first, target)).item()
    gain_weak = (mse(prediction, target) - mse(second, target)).item()
    assert gain_noisy == pytest.approx(100 * gain_weak, rel=1e-3)
    with pytest.raises(ValueError, match="eps"):
        build_loss("log_mse:eps=0")


def test_noise_sees_a_volume_patch_as_one_volume():
    from typing import ClassVar

    from medden.noise import Noise
    from medden.train.data import AddNoised

    class VolumeOnly(Noise):
        """Adds the batch index: tells one volume from a batch of slices."""

        spatial_dims: ClassVar[tuple[int, ...]] = (3,)

        def apply(self, batch, generator):
            index = torch.arange(batch.shape[0], dtype=batch.dtype)
            return batch + index.view(-1, *[1] * (batch.ndim - 1)) + 1

    patch = torch.zeros(1, 8, 16, 16)  # (C, D, H, W)
    out = AddNoised("image", "input", VolumeOnly())({"image": patch})["input"]
    assert out.shape == patch.shape and torch.equal(out, torch.ones_like(patch))


def test_quarter_turns_rotate_the_patch_in_plane_and_need_patches(tmp_path):
    folder = write_images(tmp_path / "img", count=1, size=32)
    noise = noise_registry.create("gaussian:sigma=0")

    def targets(augment: AugmentConfig, seed: int) -> torch.Tensor:
        config = DataConfig(train=[str(folder)], patch_size=32, val_fraction=0.0,
                            augment=augment)
        return build_data(config, noise, seed=seed, batch_size=1,
                          noisy_target=False).train[0]["target"]

    plain = targets(AugmentConfig(), 0)
    turned = {tuple(targets(AugmentConfig(quarter_turns=True, prob=1.0), seed).flatten()[:64]
                    .tolist()) for seed in range(12)}
    rotations = {tuple(torch.rot90(plain, k, (-2, -1)).flatten()[:64].tolist())
                 for k in (1, 2, 3)}
    assert turned <= rotations and len(turned) >= 2  # every draw a quarter turn, not always one
    with pytest.raises(ConfigError, match="quarter_turns' needs square patches"):
        config_from_dict({**tiny_config(folder, tmp_path / "run"),
                          "data": {"train": [str(folder)], "patch_size": None,
                                   "augment": {"quarter_turns": True}}})


def test_images_smaller_than_half_a_patch_are_mirrored_up_to_it(tmp_path):
    folder = write_images(tmp_path / "img", count=3, size=20)
    noise = noise_registry.create("gaussian:sigma=0")
    config = DataConfig(train=[str(folder)], patch_size=64, val_crop=96, val_fraction=0.34)
    data = build_data(config, noise, seed=0, batch_size=1, noisy_target=False)
    patch, val = data.train[0]["target"], data.val[0]["target"]
    assert patch.shape == (1, 64, 64) and val.shape == (1, 96, 96)
    # the image sits mirrored at the centre of the validation crop: rows 38..57 and 58..77
    assert torch.equal(val[:, 38:58].flip(1), val[:, 58:78])
