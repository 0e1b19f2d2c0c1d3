"""MONAI bundles of trained medden networks: building them, and what their configs call.

A bundle (``bundles/<name>/``) follows the MONAI bundle layout::

    configs/metadata.json    MONAI metadata (checked by ``monai.bundle verify_metadata``)
    configs/inference.json   denoise --dataset_dir into --output_dir, same formats out
    configs/train.json       retrain from a --dataset_dir of clean images (medden recipes)
    configs/evaluate.json    benchmark on a --dataset_dir of clean images under given noise
    configs/logging.conf     messages to the console (what MONAI's runner looks for)
    models/model.pt          the pipeline's state_dict (loads with weights_only=True)
    models/model.ts          TorchScript export (:mod:`medden.bundle_torchscript`)
    docs/README.md, docs/data_license.txt, LICENSE

The network is built by :func:`network` from a pipeline SPEC through the ``_target_`` of
``network_def``, so a bundle holds no copy of medden's code.  The configs' ``run`` entries
call :func:`run_inference`, :func:`run_training` and :func:`run_evaluation`, which run the
same code as ``medden denoise``, ``medden train`` and ``medden benchmark``; when that code
fails they end the program with its exit status (it has said why in a line), not with a
traceback of MONAI's runner.
"""

from __future__ import annotations

import json
import platform
import warnings
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch

import medden
from medden.choices import DEFAULT_TILE
from medden.errors import UsageError
from medden.pipeline import Pipeline
from medden.registry import noise_registry, pipeline_registry, recording_plugins
from medden.requirements import plugins_needed, requirements
from medden.spec import Spec, parse_spec

__all__ = ["network", "inference_config", "run_inference", "run_training", "run_evaluation",
           "export_bundle", "LOGGING_CONF", "SCHEMA_URL"]

#: The MONAI metadata schema bundles declare (a copy is used offline for verification).
SCHEMA_URL = ("https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/"
              "0.8.1/meta_schema_20240725.json")


def network(spec: str | dict[str, Any] | Spec, plugins: dict[str, str] | None = None
            ) -> Pipeline:
    """Build the (untrained) pipeline of a bundle from its SPEC.

    Parameters
    ----------
    spec : str, dict or Spec
        A pipeline SPEC, e.g. ``"single:model=(noise_aware_unet:in_channels=1)"``.
    plugins : dict, optional
        Third-party distributions (name to version) of the plugins the SPEC uses.

    Raises
    ------
    UsageError
        When a plugin is missing because one of ``plugins`` is not installed: the message
        names the package to install.
    """
    with plugins_needed(plugins or {}, f"bundle network '{spec}'"):
        return pipeline_registry.create(parse_spec(spec))


#: ``configs/logging.conf`` of every bundle: MONAI's model-zoo console logging.
LOGGING_CONF = """[loggers]
keys=root

[handlers]
keys=consoleHandler

[formatters]
keys=fullFormatter

[logger_root]
level=INFO
handlers=consoleHandler

[handler_consoleHandler]
class=StreamHandler
level=INFO
formatter=fullFormatter
args=(sys.stdout,)

[formatter_fullFormatter]
format=%(asctime)s - %(name)s - %(levelname)s - %(message)s
"""


def _cli(argv: list[str]) -> None:
    """Run ``medden ARGV``; end the program with its exit status when that is not 0.

    Raises
    ------
    SystemExit
        On failure: medden has printed why, and an exception would only bury that line
        under MONAI's traceback.
    """
    from medden.cli import main

    status = main(argv)
    if status != 0:
        raise SystemExit(status)


def _bundle_root(bundle_root: str) -> str:
    """``bundle_root``, checked to be a bundle folder, as an absolute path (a PATH, never
    read as a bundle NAME).

    Raises
    ------
    SystemExit
        When it is not: the configs' default ``"."`` is only right when run from the
        bundle's folder.
    """
    if not (Path(bundle_root) / "configs" / "inference.json").is_file():
        raise SystemExit(f"medden bundle: bundle_root '{bundle_root}' is not a bundle folder "
                         "(no configs/inference.json): pass --bundle_root PATH (e.g. "
                         "bundles/xray_denoise) or run from the bundle's folder")
    return str(Path(bundle_root).resolve())


def run_inference(bundle_root: str, dataset_dir: str, output_dir: str,
                  modality: str | None = None, device: str = "cpu", tile: int = DEFAULT_TILE,
                  self_ensemble: bool = False, strength: float = 1.0) -> None:
    """Denoise ``dataset_dir`` into ``output_dir`` with the bundle (``medden denoise``).

    The bundle is trusted (``--trust-bundle``): MONAI has already run its config to get here.

    ``self_ensemble`` averages the network over the 8 flips and quarter turns of each image
    (``medden denoise --self-ensemble``: a little better, 8 times slower); ``strength``
    blends the output with the input (``--strength``: 0 the input, 1 the network's output).

    Raises
    ------
    SystemExit
        When ``bundle_root`` is not a bundle, or any image failed (the report in
        ``output_dir`` says which and why).
    """
    argv = ["denoise", str(dataset_dir), str(output_dir), "--bundle", _bundle_root(bundle_root),
            "--device", device, "--tile", str(tile), "--strength", str(strength), "--resume",
            "--trust-bundle"]
    if modality:
        argv += ["--modality", modality]
    if self_ensemble:
        argv.append("--self-ensemble")
    _cli(argv)


def run_training(config: dict[str, Any]) -> Any:
    """Train with medden's engine from a config mapping (``medden train``)."""
    from medden.train import config_from_dict, train

    return train(config_from_dict(config))


def run_evaluation(bundle_root: str, dataset_dir: str, output_dir: str, noise: list[str],
                   levels: str, modality: str | None = None, seed: int = 0) -> None:
    """Benchmark the bundle on clean images under ``noise`` (``medden benchmark``; the
    bundle is trusted, as in :func:`run_inference`).

    Raises
    ------
    SystemExit
        When ``bundle_root`` is not a bundle, or the benchmark failed.
    """
    argv = ["benchmark", "--data", str(dataset_dir), "--models", _bundle_root(bundle_root),
            "--noise", *noise, "--levels", levels, "--seed", str(seed),
            "--out", str(output_dir), "--skip", "cost,curves", "--quiet", "--trust-bundle"]
    if modality:
        argv += ["--modality", modality]
    _cli(argv)


def _versions(plugins: dict[str, str]) -> dict[str, Any]:
    import ignite
    import monai
    import nibabel
    import pydicom
    import SimpleITK

    return {
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": np.__version__,
        "required_packages_version": {
            "medden": medden.__version__, "pytorch-ignite": ignite.__version__,
            "nibabel": nibabel.__version__, "pydicom": pydicom.__version__,
            "SimpleITK": SimpleITK.Version.VersionString(), **plugins,
        },
    }


def _tensor_format(channels: int, modality: str, meaning: str) -> dict[str, Any]:
    return {
        "type": "image", "format": "magnitude" if channels == 1 else "RGB",
        "modality": modality, "num_channels": channels,
        "spatial_shape": ["*", "*"], "dtype": "float32", "value_range": [0, 1],
        "is_patch_data": False,
        "channel_def": {"0": meaning} if channels == 1
        else {"0": "red", "1": "green", "2": "blue"},
    }


def _metadata(info: dict[str, Any], plugins: dict[str, str]) -> dict[str, Any]:
    channels = info["channels"]
    return {
        "schema": SCHEMA_URL,
        "version": info["version"],
        "changelog": (dict(info["changelog"]) if isinstance(info["changelog"], dict)
                      else {info["version"]: info["changelog"]}),
        **_versions(plugins),
        "name": info["name"],
        "task": info["task"],
        "description": info["description"],
        "authors": "medden developers",
        "copyright": "Copyright (c) medden developers",
        "data_source": info["data_source"],
        "data_type": info["data_type"],
        "image_classes": f"{channels}-channel image normalised to [0, 1] by medden.intensity",
        "pred_classes": f"{channels}-channel denoised image on the same scale",
        "eval_metrics": info.get("eval_metrics", {}),
        "intended_use": "Research on image denoising only; not for diagnostic use.",
        "references": info["references"],
        "network_data_format": {
            "inputs": {"image": _tensor_format(channels, info["dicom_modality"], "noisy")},
            "outputs": {"pred": _tensor_format(channels, info["dicom_modality"], "denoised")},
        },
    }


def _network_def(spec: str, plugins: dict[str, str]) -> dict[str, Any]:
    """``network_def``: the SPEC, and the plugin distributions it needs (when any)."""
    return {"_target_": "medden.bundle.network", "spec": spec,
            **({"plugins": plugins} if plugins else {})}


def inference_config(spec: str, modality: str | None, plugins: dict[str, str]
                     ) -> dict[str, Any]:
    """``configs/inference.json`` of a bundle whose network is the pipeline ``spec``.

    Parameters
    ----------
    spec : str
        The pipeline SPEC ``network_def`` builds (through :func:`network`).
    modality : str or None
        The bundle's intensity convention (a :data:`medden.intensity.MODALITIES` name).
    plugins : dict
        Third-party distributions (name to version) the SPEC needs.

    Returns
    -------
    dict
        The config; :mod:`medden.bundle_trust` recognises exactly these as medden's own.
    """
    return {
        "imports": ["$import medden.bundle as medden_bundle"],
        "bundle_root": ".",
        "dataset_dir": "$@bundle_root + '/sample_data'",
        "output_dir": "$@bundle_root + '/eval'",
        "modality": modality,
        "device": "cpu",
        "tile": DEFAULT_TILE,
        "self_ensemble": False,
        "strength": 1.0,
        "network_def": _network_def(spec, plugins),
        "run": ["$medden_bundle.run_inference(@bundle_root, @dataset_dir, @output_dir, "
                "@modality, @device, @tile, @self_ensemble, @strength)"],
    }


def _train_config(training: dict[str, Any]) -> dict[str, Any]:
    config = json.loads(json.dumps(training))
    config["data"]["train"] = ["@dataset_dir"]
    config["data"].pop("val", None)
    config["output"] = "@output_dir"
    config.setdefault("log", {})["progress"] = True
    if (config.get("init") or {}).get("weights"):
        # the run started from weights on the trainer's disk; a user's retraining starts
        # from this bundle's released weights instead (null: from scratch)
        config["init"]["weights"] = "@bundle_root"
    return {
        "imports": ["$import medden.bundle as medden_bundle"],
        "bundle_root": ".",
        "dataset_dir": "$@bundle_root + '/train_data'",
        "output_dir": "$@bundle_root + '/runs/train'",
        "training": config,
        "run": ["$medden_bundle.run_training(@training)"],
    }


def _evaluate_config(modality: str, noise: list[str]) -> dict[str, Any]:
    return {
        "imports": ["$import medden.bundle as medden_bundle"],
        "bundle_root": ".",
        "dataset_dir": "$@bundle_root + '/eval_data'",
        "output_dir": "$@bundle_root + '/eval'",
        "modality": modality,
        "noise": noise,
        "levels": "15,25,50",
        "seed": 0,
        "run": ["$medden_bundle.run_evaluation(@bundle_root, @dataset_dir, @output_dir, "
                "@noise, @levels, @modality, @seed)"],
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def export_bundle(checkpoint: Path, folder: Path, info: dict[str, Any]) -> Path:
    """Write (or refresh) a bundle's configs and weights from a training checkpoint.

    Parameters
    ----------
    checkpoint : Path
        A medden training checkpoint (``best.pt``) or run folder.
    folder : Path
        The bundle folder; its ``docs/`` and ``LICENSE`` are left as they are.
    info : dict
        ``name``, ``version``, ``changelog`` (text of this version, or a mapping of every
        version to its text, newest first), ``task``, ``description``, ``modality``
        (medden intensity modality), ``dicom_modality``, ``channels``, ``data_source``,
        ``data_type``, ``references``, ``eval_noise`` (list of SPECs), optional
        ``eval_metrics`` and optional ``pipeline_params`` (parameters set on the
        checkpoint's pipeline SPEC that add no weights, e.g. the ``prefiltered`` noise
        gate: ``{clean_sigma: 1.5, noisy_sigma: 2.0}``).

    The third-party plugin distributions the checkpoint recorded and those of the network
    and the evaluation noises are listed in ``required_packages_version`` and in
    ``network_def`` (``plugins``), so that opening the bundle without one names it.

    ``models/model.ts`` is written too (:func:`medden.bundle_torchscript.export_torchscript`,
    what ``medden denoise`` runs without importing MONAI); a network that cannot be scripted
    gets none (a warning says why), and the bundle runs built from its configs.

    Returns
    -------
    Path
        The bundle folder.
    """
    from medden.bundle_torchscript import export_torchscript
    from medden.train import read_checkpoint
    from medden.train.checkpoint import checkpoint_file

    data = read_checkpoint(checkpoint)
    trained = parse_spec(data["run"]["pipeline"])
    spec = str(Spec(trained.name, {**trained.params, **(info.get("pipeline_params") or {})}))
    recorded = data["run"].get("plugins") or {}
    with recording_plugins() as used:
        check = network(spec, recorded)
        for noise in info["eval_noise"]:
            noise_registry.create(noise)
    plugins = {**recorded, **requirements(used)}
    try:
        check.load_state_dict(data["model"])
    except RuntimeError as exc:
        raise UsageError(f"checkpoint '{checkpoint}' does not fit {spec}: {exc}") from None
    (folder / "models").mkdir(parents=True, exist_ok=True)
    tmp = folder / "models" / ".model.pt.tmp"
    torch.save(check.state_dict(), tmp)
    tmp.replace(folder / "models" / "model.pt")
    _write_json(folder / "configs" / "metadata.json", _metadata(info, plugins))
    _write_json(folder / "configs" / "inference.json",
                inference_config(spec, info["modality"], plugins))
    _write_json(folder / "configs" / "train.json", _train_config(data["run"]["config"]))
    _write_json(folder / "configs" / "evaluate.json",
                _evaluate_config(info["modality"], info["eval_noise"]))
    (folder / "configs" / "logging.conf").write_text(LOGGING_CONF)
    try:
        export_torchscript(folder, check)
    except UsageError as exc:  # the bundle runs without it (built from the configs)
        warnings.warn(str(exc), stacklevel=2)
    provenance = {"checkpoint": str(checkpoint), "exported": date.today().isoformat(),
                  "python": platform.python_version(), "pipeline": spec,
                  "phase": data["run"].get("phase"), "metrics": data["run"].get("metrics")}
    if data["run"].get("phase_name") == "bundle":  # re-exported: keep where the weights came from
        earlier = checkpoint_file(checkpoint).parent.parent / "docs" / "training_provenance.json"
        if earlier.is_file():
            previous = json.loads(earlier.read_text())
            provenance["weights"] = previous.get("weights", previous)
    _write_json(folder / "docs" / "training_provenance.json", provenance)
    return folder
