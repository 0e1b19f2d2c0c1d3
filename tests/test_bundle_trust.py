"""Bundles run code (issue 25, item 11): names resolve only to shipped or installed bundles,
and a bundle PATH is built only when its configs are medden's own, or with --trust-bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medden.bundle import inference_config, network
from medden.bundle_trust import declared_network
from medden.cli import main
from medden.denoisers import find_bundle, is_bundle_name, load_bundle

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "bundles"
#: A classical pipeline: a bundle of it has no weights, so it is quick to build.
MEDIAN = "single:model=(median:size=3)"


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.random.default_rng(0).integers(0, 256, (24, 24), dtype=np.uint8)
    Image.fromarray(values).save(path)


def _bundle(folder: Path, config: dict, weights: dict) -> Path:
    (folder / "configs").mkdir(parents=True)
    (folder / "models").mkdir()
    (folder / "configs" / "inference.json").write_text(json.dumps(config, indent=2))
    torch.save(weights, folder / "models" / "model.pt")
    return folder


def _hostile(folder: Path, marker: Path) -> Path:
    """A bundle whose network_def runs Python that leaves ``marker`` behind."""
    config = {"network_def": {"_target_": "torch.nn.Identity",
                              "unused": f"$open({str(marker)!r}, 'w').close()"}}
    return _bundle(folder, config, {})


def test_names_and_paths():
    assert is_bundle_name("ct") and is_bundle_name("xray_denoise")
    for path in ("./ct", "bundles/ct_denoise", ".", "..", "~/b", "/abs/b"):
        assert not is_bundle_name(path), path
    assert not is_bundle_name(Path("ct"))  # a Path is always a PATH


def test_a_name_never_resolves_to_a_folder_of_the_current_directory(tmp_path, monkeypatch,
                                                                   capsys):
    marker = tmp_path / "ran"
    _hostile(tmp_path / "ct", marker)  # a data folder named like a bundle, beside the user
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEDDEN_BUNDLES", raising=False)
    assert find_bundle("ct") == SHIPPED / "ct_denoise"
    # an installed bundle of that name comes first; relative MEDDEN_BUNDLES entries are skipped
    installed = tmp_path / "installed"
    _bundle(installed / "ct", inference_config(MEDIAN, "ct", {}), {})
    monkeypatch.setenv("MEDDEN_BUNDLES", f".:{installed}")
    assert find_bundle("ct") == installed / "ct"
    # a name that is only a folder here is not found, and the error says how to use it
    _hostile(tmp_path / "mine", marker)
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"),
                 "--bundle", "mine"]) == 2
    assert "give './mine'" in capsys.readouterr().err
    assert not marker.exists()


def test_untrusted_path_is_refused_with_why_and_how(tmp_path, capsys):
    marker = tmp_path / "ran"
    folder = _hostile(tmp_path / "b", marker)
    _png(tmp_path / "in" / "x.png")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "o1"), "--bundle",
                 str(folder), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not one of medden's known bundles" in err and "--trust-bundle" in err
    assert not marker.exists() and not (tmp_path / "o1").exists()
    # benchmark refuses it the same way
    with pytest.raises(Exception, match="--trust-bundle"):
        load_bundle(folder)
    # the user opts in: MONAI's parser builds it (and runs its code)
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "o2"), "--bundle",
                 str(folder), "--trust-bundle", "--quiet"]) == 0
    assert marker.exists()


def test_medden_written_configs_are_known(tmp_path):
    # a copy of a shipped bundle: known by its configs, whatever folder it is in
    copy = tmp_path / "copy"
    shutil.copytree(SHIPPED / "xray_denoise" / "configs", copy / "configs")
    shutil.copytree(SHIPPED / "xray_denoise" / "models", copy / "models",
                    ignore=shutil.ignore_patterns("*.ts"))
    assert load_bundle(copy).modality == "xray"
    # a bundle medden wrote for another SPEC (medden bundle / adapt): known too
    weights = network(MEDIAN).state_dict()
    own = _bundle(tmp_path / "own", inference_config(MEDIAN, "mr", {}), weights)
    assert declared_network(own) is not None
    assert load_bundle(own).modality == "mr"
    # one changed key, an expression in place of the SPEC, or an unknown modality: not known
    for change in ({"imports": ["$import os"]}, {"modality": "$1"},
                   {"network_def": {"_target_": "medden.bundle.network",
                                    "spec": "$__import__('os')"}}):
        config = {**inference_config(MEDIAN, "mr", {}), **change}
        spec = config["network_def"]["spec"]
        if spec.startswith("$"):  # what medden's writer makes of it, still refused
            config = inference_config(spec, "mr", {})
        folder = _bundle(tmp_path / f"b{len(list(tmp_path.iterdir()))}", config, weights)
        assert declared_network(folder) is None, change


def test_run_settings_may_be_changed_but_stay_plain_values(tmp_path):
    """``device``, ``tile``, ``self_ensemble`` and ``strength`` are the user's to set (and an
    older medden wrote ``tile`` 512); an expression or a value of another type is refused."""
    weights = network(MEDIAN).state_dict()
    for index, (change, known) in enumerate([
            ({"tile": 512}, True), ({"device": "cuda", "self_ensemble": True}, True),
            ({"strength": 0.5}, True), ({"strength": 1}, True),
            ({"tile": "$__import__('os').getcwd()"}, False), ({"device": "$'cpu'"}, False),
            ({"device": "@modality"}, False), ({"tile": 512.5}, False), ({"tile": True}, False),
            ({"self_ensemble": "true"}, False), ({"strength": [1.0]}, False)]):
        config = {**inference_config(MEDIAN, "mr", {}), **change}
        folder = _bundle(tmp_path / f"s{index}", config, weights)
        assert (declared_network(folder) is not None) == known, change


def test_shipped_bundles_are_known():
    for folder in sorted(SHIPPED.iterdir()):
        assert declared_network(folder) is not None, folder.name


def test_finetune_and_benchmark_resolve_names_like_denoise(tmp_path, monkeypatch, capsys):
    from medden.bench.methods import resolve_method
    from medden.commands.finetune import _weights

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEDDEN_BUNDLES", raising=False)
    _hostile(tmp_path / "ct", tmp_path / "ran")
    assert _weights("ct") == SHIPPED / "ct_denoise"
    assert resolve_method("ct").label.startswith("bundle ct_denoise")
    with pytest.raises(Exception, match="only from medden's own bundles"):
        _weights("./ct")
    with pytest.raises(Exception, match="--trust-bundle"):
        resolve_method("./ct")
    assert not (tmp_path / "ran").exists()
