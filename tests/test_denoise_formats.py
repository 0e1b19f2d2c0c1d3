"""``medden denoise`` on NIfTI and rasters: geometry, header, dtype, mode and bit depth kept."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
import torch
from PIL import Image
from scipy import ndimage

from medden.cli import main
from medden.infer import SLICE_BATCH_PIXELS, Denoising
from medden.pipeline import Pipeline


def _oblique_affine() -> np.ndarray:
    angle = np.deg2rad(25)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0],
                         [-np.sin(angle), 0, np.cos(angle)]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.7, 0.8, 3.0])
    affine[:3, 3] = [-40.0, 15.5, 62.0]
    return affine


def _run(tmp_path, *options: str) -> int:
    return main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"), *options, "--quiet"])


def test_nifti_oblique_scaled_identity_round_trip(tmp_path):
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(0)
    stored = rng.integers(-3000, 3000, size=(12, 10, 5), dtype=np.int16)
    image = nib.Nifti1Image(stored, _oblique_affine())
    image.header.set_slope_inter(0.5, -100.0)
    image.header.set_qform(_oblique_affine(), code=1)
    nib.save(image, tmp_path / "in" / "oblique.nii.gz")

    assert _run(tmp_path, "--model", "identity", "--modality", "mr") == 0
    source, out = (nib.load(tmp_path / d / "oblique.nii.gz") for d in ("in", "out"))
    np.testing.assert_array_equal(out.affine, source.affine)
    assert out.header.get_data_dtype() == np.int16
    assert (out.dataobj.slope, out.dataobj.inter) == (0.5, -100.0)
    assert out.header.get_qform(coded=True)[1] == 1
    np.testing.assert_array_equal(out.dataobj.get_unscaled(), stored)
    before, after = (sitk.ReadImage(str(tmp_path / d / "oblique.nii.gz")) for d in ("in", "out"))
    assert after.GetOrigin() == before.GetOrigin()
    assert after.GetDirection() == before.GetDirection()
    assert after.GetSpacing() == before.GetSpacing()


def test_nifti_4d_volumes_are_filtered_one_by_one_slicewise(tmp_path):
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(1)
    data = rng.normal(100, 20, size=(9, 8, 4, 2)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "in" / "dyn.nii")
    assert _run(tmp_path, "--model", "median:size=3") == 0
    out = np.asarray(nib.load(tmp_path / "out" / "dyn.nii").dataobj)
    assert out.shape == data.shape and out.dtype == np.float32
    # percentile normalisation is linear, so the median commutes with it: a 2-D median of
    # every (x, y) slice of every volume
    expected = ndimage.median_filter(data, size=(3, 3, 1, 1), mode="reflect")
    np.testing.assert_allclose(out, expected, atol=1e-3)


def test_rgb_png_keeps_mode_and_is_filtered_per_channel(tmp_path):
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in" / "skin.png")
    assert _run(tmp_path, "--model", "median:size=3") == 0
    out = Image.open(tmp_path / "out" / "skin.png")
    assert out.mode == "RGB" and out.size == (24, 20)
    expected = ndimage.median_filter(pixels, size=(3, 3, 1), mode="reflect")
    np.testing.assert_array_equal(np.asarray(out), expected)


def test_16bit_tiff_keeps_depth_and_values(tmp_path):
    (tmp_path / "in").mkdir()
    pixels = np.linspace(0, 4095, 30 * 40).reshape(30, 40).astype(np.uint16)
    tifffile.imwrite(tmp_path / "in" / "dx.tif", pixels)
    assert _run(tmp_path, "--model", "identity") == 0
    out = tifffile.imread(tmp_path / "out" / "dx.tif")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, pixels)


class _Affine(Pipeline):
    """A learned point-wise map (1×1 conv) that records the sizes it is given."""

    spatial_dims = (2,)

    def __init__(self) -> None:
        conv = torch.nn.Conv2d(1, 1, 1)
        torch.nn.init.constant_(conv.weight, 0.5)
        torch.nn.init.constant_(conv.bias, 0.1)
        super().__init__({"map": conv})
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape))
        return super().forward(x)


def test_large_images_run_in_blended_tiles():
    network = _Affine()
    image = torch.rand(1, 150, 170, generator=torch.Generator().manual_seed(0))
    volume = torch.rand(1, 5, 100, 90, generator=torch.Generator().manual_seed(1))
    runner = Denoising(network, tile=64, overlap=0.5, slice_batch=2)
    torch.testing.assert_close(runner(image.clone()), 0.5 * image + 0.1)
    torch.testing.assert_close(runner(volume.clone()), 0.5 * volume + 0.1)
    assert max(max(shape[2:]) for shape in network.seen) == 64
    assert max(shape[0] for shape in network.seen) <= 4  # tiles per network call


def test_large_slices_go_one_per_call_small_ones_share_calls():
    """Slices are batched by pixels (at most SLICE_BATCH_PIXELS), not by the tile: a 512² CT
    slice ran slower four per call than alone."""
    network = _Affine()
    runner = Denoising(network, tile=1024, slice_batch=8)
    volume = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(runner(volume.clone()), 0.5 * volume + 0.1)
    assert [shape[0] for shape in network.seen] == [1, 1, 1]
    network.seen.clear()
    runner(torch.rand(1, 20, 100, 100))  # 26 such slices fit in 512² pixels: 8 per call
    assert [shape[0] for shape in network.seen] == [8, 8, 4]
    assert SLICE_BATCH_PIXELS == 512 * 512


def test_a_network_built_for_volumes_denoises_volumes_not_slices():
    from medden.registry import pipeline_registry

    volumetric = pipeline_registry.create("single:model=(dncnn:spatial_dims=3,depth=2,features=4)")
    planar = pipeline_registry.create("single:model=(dncnn:spatial_dims=2,depth=2,features=4)")
    assert (volumetric.spatial_dims, planar.spatial_dims) == ((3,), (2,))
    volume = torch.rand(1, 8, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = volumetric.eval()(volume[None])[0]
    assert torch.allclose(Denoising(volumetric)(volume), expected, atol=1e-6)
    with torch.no_grad():  # the 2-D network runs slice by slice
        slices = planar.eval()(volume.transpose(0, 1)).transpose(0, 1)
    assert torch.allclose(Denoising(planar)(volume), slices, atol=1e-6)
    with pytest.raises(ValueError, match=r"supports \(3,\)-D images, got a 2-D image"):
        Denoising(volumetric)(volume[:, 0])
