"""Bundles: export from a training checkpoint, MONAI's verify tools, run, ckpt_export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from _train_support import tiny_config, write_images
from monai.bundle import ckpt_export, run, verify_metadata, verify_net_in_out
from PIL import Image

from medden.cli import main
from medden.denoisers import load_bundle
from medden.infer import Capabilities
from medden.train import config_from_dict, train

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "tests" / "data" / "monai_meta_schema_20240725.json"  # see its README
INFO = REPO / "configs" / "bundles" / "xray_denoise.info.yaml"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A bundle exported from a few-iteration training run of a small network, in the
    shipped bundles' pipeline (``prefiltered``, with the noise gate of their info file)."""
    root = tmp_path_factory.mktemp("bundle")
    data = write_images(root / "data", count=4)
    result = train(config_from_dict(tiny_config(
        data, root / "run", epochs=1, pipeline="prefiltered:model=(cae:features=16)")))
    folder = root / "tiny_denoise"
    assert main(["bundle", str(result.best), str(folder), "--info", str(INFO)]) == 0
    return folder


def test_export_writes_the_bundle_layout(bundle):
    for part in ("configs/metadata.json", "configs/inference.json", "configs/train.json",
                 "configs/evaluate.json", "configs/logging.conf", "models/model.pt",
                 "models/model.ts"):
        assert (bundle / part).is_file(), part
    weights = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in weights.values())
    inference = json.loads((bundle / "configs" / "inference.json").read_text())
    assert inference["network_def"]["_target_"] == "medden.bundle.network"
    gate = yaml.safe_load(INFO.read_text())["pipeline_params"]
    assert inference["network_def"]["spec"].startswith("prefiltered:model=(cae:")
    assert inference["network_def"]["spec"].endswith(
        "," + ",".join(f"{k}={v}" for k, v in gate.items()))
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert metadata["required_packages_version"]["medden"]
    assert metadata["network_data_format"]["inputs"]["image"]["num_channels"] == 1


def test_metadata_passes_monai_verify_metadata(bundle):
    verify_metadata(meta_file=str(bundle / "configs" / "metadata.json"),
                    filepath=str(SCHEMA))


def test_network_passes_monai_verify_net_in_out(bundle):
    verify_net_in_out(net_id="network_def", meta_file=str(bundle / "configs/metadata.json"),
                      config_file=str(bundle / "configs/inference.json"),
                      bundle_root=str(bundle), n=2)


def test_monai_bundle_run_denoises_a_folder_into_the_same_formats(bundle, tmp_path):
    source = write_images(tmp_path / "in", count=2, size=40)
    run(config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
        dataset_dir=str(source), output_dir=str(tmp_path / "out"))
    for name in ("p00_im.png", "p01_im.png"):
        written = Image.open(tmp_path / "out" / name)
        assert written.mode == Image.open(source / name).mode
        assert written.size == (40, 40)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["counts"]["ok"] == 2


def test_monai_bundle_evaluation_never_writes_noisy_images_to_jpeg(bundle, tmp_path,
                                                                   jpeg_encodings):
    data = tmp_path / "eval_data"
    data.mkdir()
    for index, png in enumerate(sorted(write_images(tmp_path / "png", count=2).iterdir())):
        Image.open(png).save(data / f"x{index}.jpg", quality=80)
    jpeg_encodings.clear()  # the inputs themselves
    run(config_file=str(bundle / "configs" / "evaluate.json"), bundle_root=str(bundle),
        dataset_dir=str(data), output_dir=str(tmp_path / "eval"))
    assert (tmp_path / "eval" / "quality.csv").is_file()
    assert jpeg_encodings == []


def test_monai_bundle_run_passes_self_ensemble_on(bundle, tmp_path):
    source = write_images(tmp_path / "in", count=1, size=40)
    run(config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
        dataset_dir=str(source), output_dir=str(tmp_path / "out"), self_ensemble=True)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["options"]["self_ensemble"] is True
    assert report["files"][0]["model"].endswith("(self-ensemble x8)")


def test_monai_bundle_run_passes_strength_0_gives_the_input(bundle, tmp_path):
    inference = json.loads((bundle / "configs" / "inference.json").read_text())
    assert inference["strength"] == 1.0
    source = write_images(tmp_path / "in", count=1, size=40)
    run(config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
        dataset_dir=str(source), output_dir=str(tmp_path / "out"), strength=0.0)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["options"]["strength"] == 0.0
    written = Image.open(tmp_path / "out" / "p00_im.png")
    assert written.tobytes() == Image.open(source / "p00_im.png").tobytes()


def test_export_writes_the_torchscript_denoise_runs(bundle):
    scripted = load_bundle(bundle, trust=True, torchscript=True)
    assert isinstance(scripted.network, torch.jit.ScriptModule)
    eager = load_bundle(bundle).network
    assert scripted.capabilities == Capabilities.of(eager)
    x = torch.rand(1, 1, 37, 45, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(scripted.network(x), eager(x), atol=1e-5)


def test_ckpt_export_torchscript_matches_the_eager_network(bundle, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(bundle, folder)
    target = folder / "models" / "model.ts"
    ckpt_export(net_id="network_def", filepath=str(target),
                ckpt_file=str(folder / "models" / "model.pt"),
                meta_file=str(folder / "configs" / "metadata.json"),
                config_file=str(folder / "configs" / "inference.json"),
                bundle_root=str(folder))
    scripted = torch.jit.load(str(target))
    eager = load_bundle(folder).network
    x = torch.rand(1, 1, 37, 45, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(scripted(x), eager(x), atol=1e-5)
    flat = torch.full((1, 1, 40, 40), 0.25)  # a clean image: the gate passes it through
    assert torch.equal(scripted(flat), flat)
    # without medden's capabilities in the file, denoise builds the network instead
    assert not isinstance(load_bundle(folder, trust=True, torchscript=True).network,
                          torch.jit.ScriptModule)


def test_train_config_retrains_from_a_dataset_dir(bundle, tmp_path):
    config = json.loads((bundle / "configs" / "train.json").read_text())
    assert config["training"]["data"]["train"] == ["@dataset_dir"]
    assert config["training"]["output"] == "@output_dir"
    data = write_images(tmp_path / "new_images", count=3, seed=5)
    for init, output in ((None, "scratch"), ("@bundle_root", "from_bundle")):
        config["training"]["init"] = {"weights": init, "freeze": []}
        config_file = tmp_path / f"train_{output}.json"
        config_file.write_text(json.dumps(config))
        run(config_file=str(config_file), bundle_root=str(bundle), dataset_dir=str(data),
            output_dir=str(tmp_path / output))
        result = json.loads((tmp_path / output / "result.json").read_text())
        assert result["iterations"] > 0 and (tmp_path / output / "best.pt").is_file()


def test_fine_tuned_runs_retrain_from_the_bundle_weights(bundle, tmp_path):
    from medden.bundle import _train_config

    training = {"data": {"train": ["/trainer/disk"]}, "output": "runs/x",
                "init": {"weights": "runs/xray_denoise/best.pt", "freeze": []}}
    config = _train_config(training)
    assert config["training"]["init"]["weights"] == "@bundle_root"
    assert _train_config({"data": {}, "output": "o"})["training"].get("init") is None


def test_export_refuses_incomplete_info(bundle, tmp_path):
    info = yaml.safe_load(INFO.read_text())
    del info["task"]
    broken = tmp_path / "info.yaml"
    broken.write_text(yaml.safe_dump(info))
    code = main(["bundle", str(bundle / "models" / "model.pt"), str(tmp_path / "b"),
                 "--info", str(broken)])
    assert code == 2
    assert not (tmp_path / "b").exists()


def test_changelog_keeps_every_version(bundle, tmp_path):
    info = yaml.safe_load(INFO.read_text())
    info["version"] = "0.2.0"
    info["changelog"] = {"0.2.0": "trained longer", "0.1.0": "first release"}
    path = tmp_path / "info.yaml"
    path.write_text(yaml.safe_dump(info, sort_keys=False))
    folder = tmp_path / "b"
    assert main(["bundle", str(bundle / "models" / "model.pt"), str(folder), "--info",
                 str(path)]) == 0
    metadata = json.loads((folder / "configs" / "metadata.json").read_text())
    assert metadata["version"] == "0.2.0"
    assert list(metadata["changelog"].items()) == [("0.2.0", "trained longer"),
                                                   ("0.1.0", "first release")]


def test_reexport_from_a_bundle_keeps_its_weights_and_their_provenance(bundle, tmp_path):
    info = yaml.safe_load(INFO.read_text())
    info["pipeline_params"] = {"clean_sigma": 0.5, "noisy_sigma": 1.0}
    path = tmp_path / "info.yaml"
    path.write_text(yaml.safe_dump(info, sort_keys=False))
    folder = tmp_path / "b"
    assert main(["bundle", str(bundle), str(folder), "--info", str(path)]) == 0
    spec = json.loads((folder / "configs" / "inference.json").read_text())["network_def"]["spec"]
    assert spec.endswith("clean_sigma=0.5,noisy_sigma=1.0")
    before = torch.load(bundle / "models" / "model.pt", weights_only=True)
    after = torch.load(folder / "models" / "model.pt", weights_only=True)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    provenance = json.loads((folder / "docs" / "training_provenance.json").read_text())
    earlier = json.loads((bundle / "docs" / "training_provenance.json").read_text())
    assert provenance["checkpoint"] == str(bundle)
    assert provenance["weights"]["checkpoint"] == earlier["checkpoint"]
    # the same from the bundle's weights file, and again from the re-export (no nesting)
    again = tmp_path / "c"
    assert main(["bundle", str(folder / "models" / "model.pt"), str(again), "--info",
                 str(path)]) == 0
    provenance = json.loads((again / "docs" / "training_provenance.json").read_text())
    assert provenance["weights"]["checkpoint"] == earlier["checkpoint"]


def test_export_refuses_pipeline_params_the_pipeline_lacks(bundle, tmp_path):
    info = yaml.safe_load(INFO.read_text())
    info["pipeline_params"] = {"no_such_parameter": 1}
    path = tmp_path / "info.yaml"
    path.write_text(yaml.safe_dump(info, sort_keys=False))
    assert main(["bundle", str(bundle), str(tmp_path / "b"), "--info", str(path)]) == 2
    assert not (tmp_path / "b").exists()
