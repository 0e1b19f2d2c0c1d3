"""``medden denoise`` runs a shipped bundle's ``models/model.ts`` (torch only) when it is in
sync with the bundle's configs and weights, with the eager network's outputs and UIDs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image
from pydicom.data import get_testdata_file

import medden.bundle_torchscript
from medden.bundle import inference_config
from medden.bundle_torchscript import TORCHSCRIPT_INFO, export_torchscript, load_torchscript
from medden.bundle_trust import declared_network
from medden.cli import main
from medden.commands.denoise import _weights_digest
from medden.denoisers import load_bundle
from medden.infer import Capabilities, Denoising

REPO = Path(__file__).resolve().parents[1]
XRAY = REPO / "bundles" / "xray_denoise"


def _image(height: int = 40, width: int = 56) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0.2, 0.8, width)
    image = ramp.expand(1, height, width) + 0.06 * torch.randn(1, height, width,
                                                                generator=generator)
    return image.clamp(0, 1)


def _runner(network, **options) -> Denoising:
    return Denoising(network.network, capabilities=network.capabilities, **options)


@pytest.fixture(scope="module")
def networks():
    """The xray bundle by its TorchScript and built (eager)."""
    scripted = load_bundle("xray", torchscript=True)
    assert isinstance(scripted.network, torch.jit.ScriptModule)
    eager = load_bundle("xray")
    assert not isinstance(eager.network, torch.jit.ScriptModule)
    return scripted, eager


@pytest.fixture()
def copy(tmp_path) -> Path:
    folder = tmp_path / "xray_copy"
    shutil.copytree(XRAY, folder)
    return folder


#: What a run over PNG files with a bundle has no use for: MONAI and the network plugins
#: (the TorchScript file needs torch only), the DICOM and NIfTI readers, SimpleITK (JPEG
#: checks) and scikit-image (the classical filters' noise estimate).
UNUSED_BY_PNG_RUNS = {"monai", "medden_unet", "medden_pipelines", "medden_classic", "pydicom",
                      "nibabel", "SimpleITK", "skimage"}


def test_denoising_pngs_with_a_bundle_imports_neither_monai_the_plugins_nor_other_readers(
        tmp_path):
    """Start-up is part of the command's time (docs/benchmarks.md, issue 25): pydicom and
    nibabel alone took about a second, MONAI (its tiling) seconds; a 640x524 radiograph is
    denoised whole by default."""
    source = tmp_path / "in"
    source.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (524, 640), dtype=np.uint8)
    Image.fromarray(pixels).save(source / "a.png")
    code = ("import json, sys\nfrom medden.cli import main\n"
            f"status = main(['denoise', {str(source)!r}, {str(tmp_path / 'out')!r}, "
            "'--bundle', 'xray', '--quiet'])\n"
            "print(json.dumps([status, sorted(sys.modules)]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)
    status, modules = json.loads(done.stdout.splitlines()[-1])
    assert status == 0
    roots = {name.split(".")[0] for name in modules}
    assert not roots & UNUSED_BY_PNG_RUNS


def test_scripted_and_eager_give_the_same_outputs_and_digest(networks):
    scripted, eager = networks
    assert scripted.label == eager.label and scripted.modality == eager.modality
    assert scripted.capabilities == Capabilities.of(eager.network)
    assert _weights_digest(scripted.network) == _weights_digest(eager.network)
    image = _image()
    for options in ({}, {"self_ensemble": True}, {"tile": 16, "overlap": 0.5}):
        torch.testing.assert_close(_runner(scripted, **options)(image.clone()),
                                   _runner(eager, **options)(image.clone()),
                                   atol=1e-4, rtol=0, msg=str(options))


def test_changed_weights_fall_back_to_the_eager_network(copy, networks):
    weights = torch.load(copy / "models" / "model.pt", weights_only=True)
    name = next(iter(weights))
    weights[name] = weights[name] + 0.01
    torch.save(weights, copy / "models" / "model.pt")
    loaded = load_bundle(copy, trust=True, torchscript=True)
    assert not isinstance(loaded.network, torch.jit.ScriptModule)
    assert loaded.capabilities is None
    image = _image()
    changed = _runner(loaded)(image.clone())
    torch.testing.assert_close(changed, _runner(load_bundle(copy))(image.clone()))
    assert not torch.allclose(changed, _runner(networks[0])(image.clone()), atol=1e-4)


def test_changed_spec_or_a_file_without_medden_info_falls_back(copy):
    declared = declared_network(copy)
    assert load_torchscript(copy, declared) is not None
    spec = declared.spec.replace("clean_sigma=1.5", "clean_sigma=1.0")
    assert spec != declared.spec
    (copy / "configs" / "inference.json").write_text(
        json.dumps(inference_config(spec, declared.modality, declared.plugins)))
    assert load_torchscript(copy, declared_network(copy)) is None
    assert not isinstance(load_bundle(copy, trust=True, torchscript=True).network,
                          torch.jit.ScriptModule)
    export_torchscript(copy)  # in sync again, with the new spec
    assert load_torchscript(copy, declared_network(copy)) is not None
    module = torch.jit.load(str(copy / "models" / "model.ts"))
    torch.jit.save(module, str(copy / "models" / "model.ts"))  # what MONAI's ckpt_export has
    assert load_torchscript(copy, declared_network(copy)) is None
    (copy / "models" / "model.ts").write_bytes(b"not a TorchScript file")
    assert load_torchscript(copy, declared_network(copy)) is None


def test_a_missing_plugin_distribution_is_not_hidden_by_the_torchscript(copy, monkeypatch):
    declared = declared_network(copy)
    (copy / "configs" / "inference.json").write_text(json.dumps(
        inference_config(declared.spec, declared.modality, {"acme-absent-medden": "0.1"})))
    export_torchscript(copy)
    assert load_torchscript(copy, declared_network(copy)) is None
    monkeypatch.setattr(medden.bundle_torchscript, "missing", lambda required: {})
    assert load_torchscript(copy, declared_network(copy)) is not None


def test_an_untrusted_bundle_path_never_runs_its_torchscript(copy, monkeypatch):
    def refuse(*args):
        raise AssertionError("an untrusted folder's TorchScript was read")

    monkeypatch.setattr(medden.bundle_torchscript, "load_torchscript", refuse)
    loaded = load_bundle(copy, torchscript=True)
    assert not isinstance(loaded.network, torch.jit.ScriptModule)


def test_dicom_uids_and_pixels_are_those_of_the_eager_network(tmp_path, monkeypatch):
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), source / "mr.dcm")
    def denoise(out: str) -> int:
        return main(["denoise", str(source), str(tmp_path / out), "--bundle", "mri", "--quiet"])

    loaded = []
    real = medden.bundle_torchscript.load_torchscript
    monkeypatch.setattr(medden.bundle_torchscript, "load_torchscript",
                        lambda *a: loaded.append(real(*a)) or loaded[-1])
    assert denoise("scripted") == 0
    assert len(loaded) == 1 and loaded[0] is not None  # the scripted network ran
    monkeypatch.setattr(medden.bundle_torchscript, "load_torchscript", lambda *a: None)
    assert denoise("eager") == 0
    scripted = pydicom.dcmread(tmp_path / "scripted" / "mr.dcm")
    eager = pydicom.dcmread(tmp_path / "eager" / "mr.dcm")
    for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "SeriesDescription",
                    "DerivationDescription"):
        assert scripted.get(keyword) == eager.get(keyword), keyword
    difference = scripted.pixel_array.astype(int) - eager.pixel_array.astype(int)
    assert np.abs(difference).max() <= 1


@pytest.mark.parametrize("bundle", sorted(p.parent.parent for p in
                                          (REPO / "bundles").glob("*/configs/metadata.json")),
                         ids=lambda b: b.name)
def test_shipped_torchscript_is_in_sync(bundle):
    """Re-export a stale one with ``python -m medden.bundle_torchscript bundles/NAME``."""
    extra = {TORCHSCRIPT_INFO: ""}
    torch.jit.load(str(bundle / "models" / "model.ts"), _extra_files=extra)
    assert json.loads(extra[TORCHSCRIPT_INFO])["learned"] is True
    assert load_torchscript(bundle, declared_network(bundle)) is not None
