"""The trained bundles shipped in ``bundles/``: metadata, weights, TorchScript export, denoising."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, verify_metadata
from PIL import Image

from medden.bundle import LOGGING_CONF
from medden.metrics import psnr
from medden.registry import noise_registry

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "tests" / "data" / "monai_meta_schema_20240725.json"  # see its README
BUNDLES = sorted(p.parent.parent for p in (REPO / "bundles").glob("*/configs/metadata.json"))


def _network(bundle: Path) -> torch.nn.Module:
    parser = ConfigParser()
    parser.read_config(bundle / "configs" / "inference.json")
    parser["bundle_root"] = str(bundle)
    network = parser.get_parsed_content("network_def")
    state = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
    network.load_state_dict(state)
    return network.eval()


def _smooth(channels: int, size: int = 96, background: int = 0) -> torch.Tensor:
    """A smooth image in [0.2, 0.8], inside a black frame ``background`` pixels wide."""
    ramp = torch.linspace(0.2, 0.8, size - 2 * background)
    image = 0.5 * (ramp[:, None] + ramp[None, :]) + 0.1 * torch.sin(ramp * 12)[None, :]
    image = torch.nn.functional.pad(image, [background] * 4)
    return image.expand(1, channels, size, size).clone()


#: An MR image has a background: mri_denoise tells zero-mean noise from magnitude noise by the
#: pixels it puts at or below zero there (medden_pipelines.magnitude_switch; without background
#: zero-mean noise reaches the magnitude branch, a limit in the bundle's README).
BACKGROUND = {"mri_denoise": 16}


def test_every_modality_ships_a_bundle():
    assert {b.name for b in BUNDLES} == {"xray_denoise", "ct_denoise", "mri_denoise",
                                         "multimodal_denoise"}


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda b: b.name)
def test_metadata_verifies_against_the_official_schema(bundle):
    verify_metadata(meta_file=str(bundle / "configs" / "metadata.json"), filepath=str(SCHEMA))


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda b: b.name)
def test_logging_conf_is_the_one_export_writes(bundle):
    assert (bundle / "configs" / "logging.conf").read_text() == LOGGING_CONF


def test_monai_run_without_bundle_root_says_so_in_one_line(tmp_path):
    """From a folder that is not the bundle (the configs' bundle_root is "."): no traceback,
    and no warning that configs/logging.conf is missing."""
    config = REPO / "bundles" / "xray_denoise" / "configs" / "inference.json"
    done = subprocess.run(
        [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(config),
         "--dataset_dir", str(tmp_path), "--output_dir", str(tmp_path / "out")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "logging.conf does not exist" not in output
    assert "bundle_root '.' is not a bundle folder" in done.stderr
    assert "pass --bundle_root PATH" in done.stderr


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda b: b.name)
def test_weights_denoise_and_torchscript_matches(bundle):
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    channels = meta["network_data_format"]["inputs"]["image"]["num_channels"]
    network = _network(bundle)
    clean = _smooth(channels, background=BACKGROUND.get(bundle.name, 0))
    generator = torch.Generator().manual_seed(0)
    gaussian = noise_registry.create("gaussian:sigma=25")(clean, generator=generator)
    impulses = noise_registry.create("salt_pepper:amount=0.05")(clean, generator=generator)
    scripted = torch.jit.load(str(bundle / "models" / "model.ts"), map_location="cpu")
    with torch.inference_mode():
        for noisy, gain in ((gaussian, 6.0), (impulses, 15.0)):
            out = network(noisy)
            assert out.shape == noisy.shape and out.dtype == torch.float32
            assert psnr(clean[0], out[0].clamp(0, 1), 1.0) > psnr(clean[0], noisy[0], 1.0) + gain
            torch.testing.assert_close(scripted(noisy), out, atol=1e-4, rtol=1e-4)


def test_mri_bundle_takes_the_coil_noise_floor_away():
    """Multi-coil magnitude noise reaches the magnitude branch, which removes the floor the
    noise lifts the background to (the zero-mean branch would keep it)."""
    bundle = REPO / "bundles" / "mri_denoise"
    network = _network(bundle)
    sample = Image.open(REPO / "samples" / "mri_brain_t1ce_0_1000.jpg").convert("L")
    clean = torch.from_numpy(np.asarray(sample, np.float32) / 255)[None, None]
    noisy = noise_registry.create("mri_coil:coils=8,snr=10")(
        clean, generator=torch.Generator().manual_seed(0))
    assert float((noisy <= 0).float().mean()) == 0.0
    with torch.inference_mode():
        out = network(noisy).clamp(0, 1)
        zero_mean = network.stages["zero_mean"](noisy).clamp(0, 1)
    assert psnr(clean[0], out[0], 1.0) > psnr(clean[0], noisy[0], 1.0) + 6.0
    assert psnr(clean[0], out[0], 1.0) > psnr(clean[0], zero_mean[0], 1.0) + 3.0


def _nuclei(size: int = 96, photons: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """A 12-bit monochrome camera image of bright round nuclei on a dark background (clean
    and with photon noise at ``photons`` at the brightest pixel, gain 8 ADU per photon,
    offset 100 ADU, read noise 2 ADU), as uint16."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    signal = np.zeros((size, size))
    for y, x, r in rng.uniform([8, 8, 4], [size - 8, size - 8, 9], (9, 3)):
        signal = np.maximum(signal, np.clip(1.2 - np.hypot(yy - y, xx - x) / r, 0, 1))
    expected = signal * photons
    clean = np.rint(expected * 8 + 100)
    noisy = np.rint(rng.poisson(expected) * 8 + 100 + rng.normal(0, 2, signal.shape))
    return clean.astype(np.uint16), np.clip(noisy, 0, 4095).astype(np.uint16)


@pytest.mark.parametrize("torchscript", [True, False])
def test_a_colour_bundle_denoises_a_gray_16bit_camera_image(tmp_path, monkeypatch, torchscript):
    """A fluorescence camera's 12-bit image in a gray 16-bit TIFF, given to the colour
    multimodal bundle: it is denoised as its three-channel twin (the gray value in every
    channel, as the bundle was trained on monochrome sensors), in the units of its 12 bits,
    not squeezed into a sixteenth of the 16-bit range, where its noise looks clean."""
    import tifffile

    from medden.cli import main

    if not torchscript:
        import medden.bundle_torchscript

        monkeypatch.setattr(medden.bundle_torchscript, "load_torchscript",
                            lambda *args, **kwargs: None)
    clean, noisy = _nuclei()
    for name, stored in (("gray", noisy), ("rgb", np.repeat(noisy[..., None], 3, axis=-1))):
        (tmp_path / name).mkdir()
        tifffile.imwrite(tmp_path / name / "cells.tif", stored,
                         photometric="rgb" if name == "rgb" else "minisblack")
        assert main(["denoise", str(tmp_path / name), str(tmp_path / f"{name}_out"),
                     "--bundle", "multimodal", "--quiet"]) == 0
    gray = tifffile.imread(tmp_path / "gray_out" / "cells.tif").astype(np.float64)
    rgb = tifffile.imread(tmp_path / "rgb_out" / "cells.tif").astype(np.float64)
    assert gray.shape == clean.shape and rgb.shape == (*clean.shape, 3)
    assert np.abs(gray - rgb.mean(axis=-1)).max() <= 1.0

    def error(image: np.ndarray) -> float:
        return float(np.sqrt(np.mean((image - clean) ** 2)))

    assert error(gray) < 0.5 * error(noisy.astype(np.float64)), (error(gray), error(noisy))


@pytest.mark.parametrize("torchscript", [True, False])
def test_a_gray_bundle_denoises_an_rgb_image_channel_by_channel(tmp_path, monkeypatch,
                                                                 torchscript):
    """The gray bundles declare ``in_channels=1`` (a string in their SPEC): an RGB image is
    denoised one channel at a time, on the TorchScript path and on the eager one. A gray
    image stored as RGB (three equal channels, as microscopes often save) comes out as the
    gray image does."""
    import numpy as np
    from PIL import Image

    from medden.cli import main

    if not torchscript:
        import medden.bundle_torchscript

        monkeypatch.setattr(medden.bundle_torchscript, "load_torchscript",
                            lambda *args, **kwargs: None)
    rng = np.random.default_rng(0)
    gray = np.clip(120 + rng.normal(0, 25, (48, 48)), 0, 255).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    (tmp_path / "rgb").mkdir()
    (tmp_path / "gray").mkdir()
    Image.fromarray(rgb).save(tmp_path / "rgb" / "c.png")
    Image.fromarray(gray).save(tmp_path / "gray" / "g.png")
    for name in ("rgb", "gray"):
        assert main(["denoise", str(tmp_path / name), str(tmp_path / f"{name}_out"),
                     "--bundle", "xray", "--quiet"]) == 0
    out = np.asarray(Image.open(tmp_path / "rgb_out" / "c.png"))
    alone = np.asarray(Image.open(tmp_path / "gray_out" / "g.png"))
    assert out.shape == rgb.shape and not np.array_equal(out, rgb)
    for channel in range(3):
        assert np.abs(out[..., channel].astype(int) - alone.astype(int)).max() <= 1
