"""``medden adapt``: fine-tune a bundle on a site's own noisy images, without clean ones.

Adaptation is fine-tuning (:func:`medden.train.finetune.finetune_config`) with a
self-supervised recipe (:mod:`medden.train.self_supervised`) on noisy-only images
(``data.noisy``), in the bundle's own intensity convention (its ``modality``), followed by
the bundle writer (:func:`medden.bundle.export_bundle`): a new bundle folder with a bumped
version, a changelog and the adaptation's provenance; the base bundle is never modified.

Never worse than the base, by the measure available without clean images: the run
validates on fixed sub-sampled pairs of noisy images (held out when there are two or more
images, else the image itself), the base weights included (``start_metrics``).  When the
best adapted weights do not lower that loss, the new bundle keeps the base weights and says
so in its changelog and metadata.

That measure is only sound for noise independent from pixel to pixel, which
Neighbor2Neighbor and the plain blind spot assume: on CT noise after filtered
back-projection the validation loss improved while every image got worse (docs/adapt.md).
The noise's correlation is therefore measured on the data first
(:mod:`medden.noise_correlation`): without ``recipe``, independent noise gets
``neighbor2neighbor`` and correlated noise ``n2v2`` with a structN2V box mask; an explicit
``neighbor2neighbor`` on correlated noise is refused, and an explicit ``n2v2`` gets the box mask
unless ``self_supervised.struct`` is set.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from medden.bundle import export_bundle
from medden.errors import UsageError
from medden.io import ScanItem, scan
from medden.train.checkpoint import read_checkpoint
from medden.train.config import TrainConfig
from medden.train.engine import TrainResult, train
from medden.train.finetune import finetune_config

__all__ = ["ADAPT_RECIPES", "RECIPE_REFERENCES", "AdaptResult", "adapt", "adapt_config",
           "bump_version", "choose_recipe", "data_digest"]

#: Recipes ``medden adapt`` trains with (noise2noise needs paired acquisitions).
ADAPT_RECIPES = ("neighbor2neighbor", "n2v2", "noise2noise")
#: The paper of each recipe, added to the new bundle's references.
RECIPE_REFERENCES = {
    "neighbor2neighbor": "Huang T. et al., Neighbor2Neighbor: Self-Supervised Denoising from "
                         "Single Noisy Images, CVPR 2021",
    "n2v2": "Höck E. et al., N2V2 - Fixing Noise2Void Checkerboard Artifacts with Modified "
            "Sampling Strategies and a Tweaked Network Architecture, ECCV Workshops 2022",
    "noise2noise": "Lehtinen J. et al., Noise2Noise: Learning Image Restoration without "
                   "Clean Data, ICML 2018",
}
#: Validations without a lower validation loss before a run stops (early stopping).
PATIENCE = 5
#: Settings of an adaptation run that differ from the base bundle's training (``--set``
#: overrides them): the self-supervised validation loss decides the best weights and early
#: stopping, and a plateau schedule only ever lowers the rate (halved after 2 validations
#: without improvement).
ADAPT_SETTINGS = {
    "monitor": "loss", "early_stopping": PATIENCE, "restore_best": True, "validate_every": 1,
    "schedule": {"name": "plateau", "factor": 0.5, "patience": 2, "min_lr": 0.0},
    "data.split_by": "file",
}


@dataclass
class AdaptResult:
    """What :func:`adapt` did.

    Attributes
    ----------
    bundle : Path
        The new bundle folder.
    version : str
        Its version.
    kept_base : bool
        True when the adapted weights did not lower the validation loss, so the bundle holds
        the base weights.
    start_loss, best_loss : float
        Self-supervised validation loss of the base weights and of the best adapted ones.
    training : TrainResult
        The fine-tuning run.
    provenance : dict
        The ``adaptation`` entry of the new bundle's metadata.
    """

    bundle: Path
    version: str
    kept_base: bool
    start_loss: float
    best_loss: float
    training: TrainResult
    provenance: dict[str, Any] = field(default_factory=dict)


def bump_version(version: str) -> str:
    """The next patch version: ``0.5.0`` -> ``0.5.1``; a version not ending in a number
    gets ``.1`` appended."""
    match = re.fullmatch(r"(.*?)(\d+)", version)
    return f"{match[1]}{int(match[2]) + 1}" if match else f"{version}.1"


def _scan(folders: list[str]) -> list[tuple[int, ScanItem]]:
    """``(folder index, image)`` of every image of ``folders``."""
    found = [(index, item) for index, folder in enumerate(folders)
             for item in scan(Path(folder)).items]
    if not found:
        raise UsageError(f"no images in {', '.join(folders)}")
    return found


def _listing(found: list[tuple[int, ScanItem]]) -> list[tuple[int, str, int]]:
    """``(folder index, relative path, bytes)`` of scanned images (:func:`data_digest`)."""
    return [(index, str(item.relpath), sum(path.stat().st_size for path in item.paths))
            for index, item in found]


def data_digest(items: list[tuple[int, str, int]]) -> str:
    """SHA-256 of the sorted data list (folder index, relative path, size): tells whether
    two adaptations saw the same files without recording any name."""
    text = "\n".join(f"{i}\t{path}\t{size}" for i, path, size in sorted(items))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: Images the noise correlation is measured on (evenly spread over the data).
CORRELATION_SAMPLE = 16


def _planes_for_correlation(items: list[ScanItem]) -> list[Any]:
    """One 2-D plane (first channel, middle slice) of up to :data:`CORRELATION_SAMPLE` of
    ``items``; unreadable images are left out (training reports them)."""
    from medden.process import read_item

    step = max(1, len(items) // CORRELATION_SAMPLE)
    planes = []
    for item in items[::step][:CORRELATION_SAMPLE]:
        try:
            array = read_item(item).data
        except Exception:  # noqa: BLE001 - any unreadable file is the training's to report
            continue
        plane = array[0]
        planes.append(plane[plane.shape[0] // 2] if plane.ndim == 3 else plane)
    return planes


def choose_recipe(images: list[ScanItem], recipe: str | None,
                  overrides: list[str]) -> tuple[str, list[str], float]:
    """The recipe for the noise of ``images``, extra overrides, and the correlation measured.

    Parameters
    ----------
    images : list of ScanItem
        The noisy images (:func:`medden.io.scan`).
    recipe : str or None
        The recipe asked for; None chooses by the noise (see the module docstring).
    overrides : list of str
        The user's ``key=value`` overrides (an explicit ``self_supervised.struct`` is kept).

    Raises
    ------
    UsageError
        ``neighbor2neighbor`` asked for on correlated noise.
    """
    from medden.noise_correlation import noise_is_correlated

    if recipe == "noise2noise":
        return recipe, [], float("nan")
    correlated, value = noise_is_correlated(_planes_for_correlation(images))
    if not correlated:
        return recipe or "neighbor2neighbor", [], value
    if recipe == "neighbor2neighbor":
        raise UsageError(
            f"the noise of these images is correlated between neighbouring pixels (median "
            f"correlation of neighbouring fine details {value:+.2f}; white noise is near 0): "
            "Neighbor2Neighbor assumes independent noise and makes a network keep correlated "
            "noise while its own loss improves. Use --recipe n2v2 (a structN2V box mask is "
            "set for such noise), or leave --recipe out to have it chosen")
    struct_set = any(o.split("=", 1)[0].strip() == "self_supervised.struct" for o in overrides)
    return "n2v2", [] if struct_set else ['self_supervised.struct="box"'], value


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read '{path}': {exc}") from None


def adapt_config(bundle: Path, data: list[str], run: Path, recipe: str = "neighbor2neighbor",
                 minutes: float | None = 10.0, pairs: list[str] | None = None,
                 lr: float | None = None, validate_on_train: bool = False,
                 overrides: list[str] | None = None) -> TrainConfig:
    """The fine-tuning config of adapting ``bundle`` to the noisy images of ``data``.

    Parameters
    ----------
    bundle : Path
        Base bundle folder.
    data : list of str
        Folders of noisy images.
    run : Path
        Run folder of the fine-tuning.
    recipe : str
        One of :data:`ADAPT_RECIPES`.
    minutes : float or None
        Training budget.
    pairs : list of str, optional
        ``noise2noise``: folders of second acquisitions (one per ``data`` folder).
    lr : float, optional
        Learning rate (default: 0.1 x the bundle's, as ``medden finetune``).
    validate_on_train : bool
        Validate on the training images themselves (a single image cannot be held out).
    overrides : list of str, optional
        Further ``key=value`` overrides.

    Raises
    ------
    UsageError
        Unknown recipe, noise2noise without pairs (or pairs with another recipe).
    """
    if recipe not in ADAPT_RECIPES:
        raise UsageError(f"--recipe must be one of {', '.join(ADAPT_RECIPES)}, got '{recipe}'")
    if (recipe == "noise2noise") != bool(pairs):
        raise UsageError("noise2noise adapts on paired acquisitions: give --pairs DIR (a "
                         "second noisy image at each relative path of --data), and --pairs "
                         "only with it")
    modality = _read_json(bundle / "configs" / "inference.json").get("modality")
    settings: dict[str, Any] = {**ADAPT_SETTINGS, "recipe": recipe, "data.modality": modality,
                                "data.noisy": recipe != "noise2noise",
                                "data.pairs": list(pairs or [])}
    if validate_on_train:
        settings["data.val"] = list(data)
    base = [f"{key}={json.dumps(value)}" for key, value in settings.items()]
    return finetune_config(bundle, data, str(run), minutes=minutes, lr=lr,
                           overrides=base + list(overrides or []))


def _export_checkpoint(result: TrainResult, bundle: Path, run: Path, keep_base: bool) -> Path:
    """The checkpoint to export: the best adapted weights, or the base weights with the
    adaptation run's description."""
    if not keep_base:
        return Path(result.best or result.last)
    kept = read_checkpoint(result.last)
    kept["model"] = read_checkpoint(bundle)["model"]
    path = run / "base_weights.pt"
    torch.save(kept, path)
    return path


def _info(base_meta: dict[str, Any], bundle: Path, name: str, version: str,
          changelog: str, recipe: str, images: int) -> dict[str, Any]:
    """The new bundle's descriptive metadata (the base's, adapted)."""
    inference = _read_json(bundle / "configs" / "inference.json")
    evaluate = bundle / "configs" / "evaluate.json"
    image = base_meta["network_data_format"]["inputs"]["image"]
    old = base_meta.get("changelog") or {}
    return {
        "name": name, "version": version,
        "changelog": {version: changelog, **(old if isinstance(old, dict) else {})},
        "task": base_meta["task"],
        "description": f"{base_meta['description']} Adapted to a site's own noisy images "
                       f"with medden adapt ({recipe}, self-supervised: no clean images).",
        "modality": inference.get("modality"), "dicom_modality": image["modality"],
        "channels": image["num_channels"],
        "data_source": f"{images} noisy image(s) of the adapting site (not distributed); "
                       f"base: {base_meta['name']} {base_meta['version']} "
                       f"({base_meta['data_source']})",
        "data_type": base_meta["data_type"],
        "references": [*base_meta.get("references", []), RECIPE_REFERENCES[recipe]],
        "eval_noise": _read_json(evaluate).get("noise", []) if evaluate.is_file() else [],
    }


def _finish_folder(folder: Path, base: Path, provenance: dict[str, Any]) -> None:
    """Add the provenance to the metadata, keep paired folders out of ``train.json``, and
    give the new bundle the base's licences and a README saying what was done."""
    meta_file = folder / "configs" / "metadata.json"
    meta = _read_json(meta_file)
    meta["adaptation"] = provenance
    meta_file.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    train_file = folder / "configs" / "train.json"
    train_config = _read_json(train_file)
    if train_config["training"]["data"].get("pairs"):  # paths of the site: a placeholder
        train_config["training"]["data"]["pairs"] = ["@pairs_dir"]
        train_config["pairs_dir"] = "$@bundle_root + '/train_pairs'"
        train_file.write_text(json.dumps(train_config, indent=2) + "\n")
    for part in ("LICENSE", "docs/data_license.txt"):
        if (base / part).is_file():
            shutil.copyfile(base / part, folder / part)
    base_readme = base / "docs" / "README.md"
    readme = (f"# {meta['name']} {meta['version']}\n\n{meta['changelog'][meta['version']]}\n\n"
              "Provenance: `configs/metadata.json` (`adaptation`). Research use only.\n")
    if base_readme.is_file():
        readme += f"\n## The base bundle\n\n{base_readme.read_text()}"
    (folder / "docs" / "README.md").write_text(readme)


def adapt(bundle: Path, data: list[str], out: Path, run: Path,
          recipe: str | None = None, minutes: float | None = 10.0,
          pairs: list[str] | None = None, lr: float | None = None, name: str | None = None,
          overrides: list[str] | None = None) -> AdaptResult:
    """Fine-tune ``bundle`` self-supervised on the noisy images of ``data``; write ``out``.

    Parameters
    ----------
    bundle : Path
        Base bundle folder (never modified).
    data : list of str
        Folders (or files) of noisy images, any format ``medden denoise`` reads.
    out : Path
        New bundle folder (must not exist, or be empty).
    run : Path
        Run folder of the fine-tuning (checkpoints, ``log.csv``).
    recipe : str, optional
        One of :data:`ADAPT_RECIPES`; None chooses by the noise (:func:`choose_recipe`).
    minutes, pairs, lr, overrides
        See :func:`adapt_config`.
    name : str, optional
        Name of the new bundle (default: the folder's name).

    Raises
    ------
    UsageError
        Bad arguments, unreadable bundle or data, an ``out`` that holds files.
    """
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"'{out}' is not empty: adapt writes a new bundle folder")
    if out.resolve() == bundle.resolve():
        raise UsageError("adapt never modifies the base bundle: choose another --out")
    found = _scan(data + list(pairs or []))
    items = _listing(found)
    data_items = [item for item in items if item[0] < len(data)]
    if pairs and recipe is None:
        recipe = "noise2noise"
    recipe, chosen, correlation = choose_recipe(
        [item for index, item in found if index < len(data)], recipe, list(overrides or []))
    config = adapt_config(bundle, data, run, recipe, minutes, pairs, lr,
                          validate_on_train=len(data_items) < 2,
                          overrides=chosen + list(overrides or []))
    base_meta = _read_json(bundle / "configs" / "metadata.json")
    result = train(config)
    start_loss = float(result.start_metrics.get("loss", float("nan")))
    best_loss = -float(result.best_score) if result.best_score is not None else float("nan")
    kept_base = not best_loss < start_loss
    version = bump_version(str(base_meta.get("version", "0.0.0")))
    weights = ("the base weights: the self-supervised validation loss did not improve "
               f"({best_loss:.6g} adapted vs {start_loss:.6g} base)" if kept_base else
               f"adapted weights (validation loss {start_loss:.6g} -> {best_loss:.6g})")
    provenance = {
        "base_bundle": base_meta.get("name"), "base_version": base_meta.get("version"),
        "recipe": recipe, "struct": config.self_supervised.struct,
        "noise_correlation": None if math.isnan(correlation) else round(correlation, 4),
        "minutes": minutes, "seconds": round(result.seconds, 1),
        "iterations": result.iterations, "images": len(data_items),
        "data_sha256": data_digest(items),
        "validation": "the training images (one image)" if len(data_items) < 2
        else "held-out images", "start_loss": start_loss, "best_loss": best_loss,
        "weights": "base" if kept_base else "adapted",
    }
    changelog = (f"{base_meta.get('name')} {base_meta.get('version')} adapted with medden "
                 f"adapt ({recipe}, {len(data_items)} noisy image(s), no clean images, "
                 f"{result.seconds / 60:.1f} min); holds {weights}")
    export_bundle(_export_checkpoint(result, bundle, run, kept_base), out,
                  _info(base_meta, bundle, name or out.name, version, changelog, recipe,
                        len(data_items)))
    _finish_folder(out, bundle, provenance)
    return AdaptResult(out, version, kept_base, start_loss, best_loss, result, provenance)
