"""Where the network of ``medden denoise`` comes from: a bundle, a checkpoint or a SPEC.

* ``--bundle NAME|PATH``: a MONAI bundle folder (``configs/inference.json``,
  ``models/model.pt``, ``configs/metadata.json``).  A NAME (a string without a path
  separator) is looked up as ``NAME`` and ``NAME_denoise`` in every absolute folder of
  ``$MEDDEN_BUNDLES`` (``os.pathsep``-separated; the user's installed bundles), then in the
  ``bundles/`` folder shipped with medden -- never in the current directory (``./NAME`` is
  a PATH).  The network is ``network_def`` of ``inference.json``: built by medden from its
  SPEC when the config is medden's own (:mod:`medden.bundle_trust`), else -- for an
  installed bundle, or a PATH given with ``trust=True`` -- by MONAI's parser through its
  ``_target_``.  The weights are ``models/model.pt`` loaded with ``weights_only=True``: a
  state dict, or a checkpoint holding it under ``"model"`` (what MONAI's
  ``CheckpointLoader`` accepts too).  The bundle's ``modality`` is its intensity
  convention (:attr:`Network.modality`).  With ``torchscript=True`` (``medden denoise``),
  a trusted bundle of medden's own (a NAME, or a PATH given with ``trust=True``) runs its
  ``models/model.ts`` instead when that is in sync with its configs and weights
  (:func:`medden.bundle_torchscript.load_torchscript`): torch only, neither MONAI nor the
  network plugins are imported.  A PATH that is not trusted is never run from its
  TorchScript, whose code would come from the folder.
* ``--checkpoint FILE``: a medden training checkpoint (:func:`medden.train.load_checkpoint`).
* ``--model SPEC`` / ``--pipeline SPEC``: anything registered; learned networks are refused
  (a SPEC carries no trained weights).
* ``--modality``: its bundle, :data:`MODALITY_BUNDLES`; none of these: each image's bundle
  by the rules of :mod:`medden.default_bundle`.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from medden.bundle_trust import DeclaredNetwork, declared_network, untrusted_error
from medden.errors import UsageError
from medden.infer import Capabilities
from medden.intensity import MODALITIES
from medden.registry import PluginError, pipeline_registry
from medden.spec import Spec, SpecError, parse_spec

__all__ = [
    "Network",
    "MODALITY_BUNDLES",
    "bundle_for_modality",
    "bundle_search_path",
    "find_bundle",
    "is_bundle_name",
    "load_bundle",
    "load_trained_checkpoint",
    "network_from_spec",
]

#: ``--modality`` value -> bundle NAME.
MODALITY_BUNDLES = {
    "ct": "ct", "mr": "mri", "mri": "mri", "rgb": "multimodal",
    "xray": "xray", "x-ray": "xray", "cr": "xray", "dx": "xray", "dr": "xray", "mg": "xray",
}

_HOW_TO_CHOOSE = (
    "choose the denoiser with --bundle NAME|PATH, --checkpoint FILE or --model SPEC, or "
    "name the modality with --modality ct|mr|xray|rgb"
)


@dataclass(frozen=True)
class Network:
    """A denoising network and the name it is reported under.

    Attributes
    ----------
    network : nn.Module
        Maps a normalised batch ``(B, C, *spatial)`` to its denoised version.
    label : str
        Written into the report, the DICOM Series/Derivation Description and logs, e.g.
        ``"median:size=3"`` or ``"bundle ct_denoise 0.1.0"``.
    modality : str or None
        The intensity convention the network was trained in (a bundle's ``modality``, one
        of :data:`medden.intensity.MODALITIES`); None: the image's own.
    capabilities : Capabilities or None
        What the network accepts, given when ``network`` is a TorchScript module (which
        cannot tell); None: read from ``network``.
    """

    network: nn.Module
    label: str
    modality: str | None = None
    capabilities: Capabilities | None = None


def bundle_for_modality(modality: str | None) -> str:
    """The bundle NAME for a ``--modality`` value.

    Raises
    ------
    ValueError
        When ``modality`` is unknown or maps to no bundle, saying how to choose instead.
    """
    if modality in MODALITY_BUNDLES:
        return MODALITY_BUNDLES[modality]
    what = f"modality {modality!r}" if modality else "an unknown modality"
    raise ValueError(f"no default denoiser for {what}; {_HOW_TO_CHOOSE}")


def bundle_search_path() -> list[Path]:
    """Folders searched for bundle NAMEs: the absolute folders of ``$MEDDEN_BUNDLES``, then
    the bundles shipped with medden."""
    folders = [Path(p) for p in os.environ.get("MEDDEN_BUNDLES", "").split(os.pathsep) if p]
    return [f for f in folders if f.is_absolute()] + [Path(__file__).resolve().parents[1]
                                                      / "bundles"]


def is_bundle_name(value: str | Path) -> bool:
    """Whether ``value`` is a bundle NAME (a string without a path separator, not ``.``
    or ``..``); a :class:`~pathlib.Path` is always a PATH."""
    if isinstance(value, Path):
        return False
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return value not in ("", ".", "..") and not value.startswith("~") \
        and not any(s in value for s in separators)


def _complete(folder: Path) -> Path:
    missing = [p for p in ("configs/inference.json", "models/model.pt")
               if not (folder / p).is_file()]
    if missing:
        raise UsageError(
            f"bundle '{folder}' is incomplete: no {' and no '.join(missing)} "
            "(trained weights are added by 'medden train' / the bundle build)"
        )
    return folder


def _installed(name: str) -> Path:
    candidates = [folder / n for folder in bundle_search_path()
                  for n in (name, f"{name}_denoise")]
    for folder in candidates:
        if folder.is_dir():
            return _complete(folder)
    looked = ", ".join(str(c) for c in candidates)
    local = (f"; the folder '{name}' of the current directory is not looked at for a "
             f"bundle name (give './{name}' to use it as a bundle PATH)"
             if Path(name).is_dir() else "")
    raise UsageError(
        f"no bundle '{name}' (looked in {looked}){local}; no trained bundle is installed "
        "under that name. Use --model SPEC for a classical filter (e.g. --model "
        "median:size=3), --checkpoint FILE for a trained checkpoint, or --bundle PATH"
    )


def find_bundle(name_or_path: str | Path, *, trust: bool = False,
                hint: str | None = None) -> Path:
    """The bundle folder for a NAME (shipped or installed) or a PATH.

    Parameters
    ----------
    name_or_path : str or Path
        A NAME (see :func:`is_bundle_name`) or a bundle folder.
    trust : bool
        Accept a PATH whose configs are not medden's own (``--trust-bundle``).
    hint : str, optional
        What to do about such a PATH, replacing the advice to pass ``--trust-bundle``.

    Raises
    ------
    UsageError
        When no complete bundle is found (listing where it was looked for), or a PATH
        is neither medden's own bundle nor trusted (saying why and how).
    """
    if is_bundle_name(name_or_path):
        return _installed(str(name_or_path))
    folder = Path(name_or_path)
    if not folder.is_dir():
        raise UsageError(f"bundle '{name_or_path}' is not a folder")
    _complete(folder)
    if not trust and declared_network(folder) is None:
        raise untrusted_error(folder, hint)
    return folder


def _bundle_label(folder: Path) -> str:
    meta_file = folder / "configs" / "metadata.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    name = meta.get("name") or folder.name
    version = meta.get("version")
    return f"bundle {name}" + (f" {version}" if version else "")


def _bundle_network(folder: Path, declared: DeclaredNetwork | None) -> nn.Module:
    """The network of ``declared``, else ``network_def`` of the (trusted) bundle's
    ``configs/inference.json`` built by MONAI's parser."""
    if declared is not None:
        from medden.bundle import network as build

        return build(declared.spec, declared.plugins)
    from monai.bundle import ConfigParser  # importing MONAI takes seconds: only when needed

    parser = ConfigParser()
    parser.read_config(folder / "configs" / "inference.json")
    parser["bundle_root"] = str(folder)
    if "network_def" not in parser.config:
        raise UsageError(f"bundle '{folder}': configs/inference.json defines no 'network_def'")
    network = parser.get_parsed_content("network_def")
    if not isinstance(network, nn.Module):
        raise UsageError(f"bundle '{folder}': network_def is a {type(network).__name__}, "
                         "not a torch module")
    return network


def _bundle_modality(folder: Path, declared: DeclaredNetwork | None) -> str | None:
    """The bundle's intensity convention: ``modality`` of its ``inference.json``, when it
    is one of :data:`~medden.intensity.MODALITIES`."""
    if declared is not None:
        return declared.modality
    try:
        modality = json.loads((folder / "configs" / "inference.json").read_text()).get("modality")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return None
    return _known_modality(modality)


def _known_modality(value: object) -> str | None:
    """``value`` when it names one of :data:`~medden.intensity.MODALITIES`, else None."""
    return value if isinstance(value, str) and value in MODALITIES else None


def load_bundle(name_or_path: str | Path, *, trust: bool = False,
                torchscript: bool = False) -> Network:
    """Build a bundle's network and load its weights (see the module docstring).

    Parameters
    ----------
    name_or_path : str or Path
        A bundle NAME or PATH (:func:`find_bundle`).
    trust : bool
        Build a PATH whose configs are not medden's own with MONAI's parser, which runs
        the Python they contain (``--trust-bundle``).
    torchscript : bool
        Run the bundle's ``models/model.ts`` when it may (see the module docstring): the
        network is then a TorchScript module, not the eager pipeline, and
        :attr:`Network.capabilities` is set.

    Raises
    ------
    UsageError
        When the bundle is missing, incomplete or untrusted, its network cannot be built
        from ``network_def``, or its weights cannot be read or do not fit the network.
    """
    from medden.bundle_torchscript import load_torchscript, read_weights

    folder = find_bundle(name_or_path, trust=trust)
    declared = declared_network(folder)
    label, modality = _bundle_label(folder), _bundle_modality(folder, declared)
    if torchscript and declared is not None and (trust or is_bundle_name(name_or_path)):
        scripted = load_torchscript(folder, declared)
        if scripted is not None:
            module, capabilities = scripted
            return Network(module, label, modality, capabilities)
    try:
        network = _bundle_network(folder, declared)
        network.load_state_dict(read_weights(folder))
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to build or load is a bad bundle
        raise UsageError(f"bundle '{folder}' cannot be loaded: {_root_cause(exc)}") from None
    return Network(network.eval(), label, modality)


def _root_cause(exc: BaseException) -> str:
    """Why loading failed: MONAI wraps what building ``network_def`` raised in "Failed to
    instantiate component ...", so the first medden error of the chain (shown bare), else
    the innermost error."""
    chain = [exc]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    own = next((e for e in chain if isinstance(e, UsageError | SpecError | PluginError)), None)
    return str(own) if own is not None else f"{type(chain[-1]).__name__}: {chain[-1]}"


def load_trained_checkpoint(path: str | Path) -> Network:
    """The pipeline of a medden training checkpoint, applied in the intensity convention of
    its training (``data.modality`` of its config) when the config names one.

    Raises
    ------
    UsageError
        When the training package is not available or the checkpoint cannot be loaded.
    """
    try:
        load_checkpoint = importlib.import_module("medden.train").load_checkpoint
    except (ImportError, AttributeError):
        raise UsageError(
            "--checkpoint needs medden.train.load_checkpoint, which this installation "
            "does not provide; use --bundle or --model"
        ) from None
    pipeline, info = load_checkpoint(path)
    file = Path(info.get("path", path))
    # the intensity convention it was trained in (data.modality; None: detected per image)
    modality = ((info.get("config") or {}).get("data") or {}).get("modality")
    # run folder / file: tells apart the last.pt of several runs
    return Network(pipeline, f"checkpoint {file.parent.name}/{file.name} "
                             f"({_outline(pipeline, info.get('pipeline'))})",
                   modality=_known_modality(modality))


def _outline(pipeline: nn.Module, spec: str | Spec | dict | None) -> str:
    """The pipeline's name and its stages' models, e.g. ``"single: dncnn"``: a label
    short enough for a table (the full SPEC, parameters included, is in the checkpoint)."""
    stages = getattr(pipeline, "stages", {})
    models = " + ".join(stage.spec.name if getattr(stage, "spec", None) is not None
                        else type(stage).__name__ for stage in stages.values())
    name = parse_spec(spec).name if spec else "pipeline"
    return f"{name}: {models}" if models else name


def network_from_spec(spec: str | Spec, *, pipeline: bool) -> Network:
    """A registered model (wrapped in the ``single`` pipeline) or pipeline from its SPEC.

    Raises
    ------
    UsageError
        When the SPEC names a learned network: it would run with random weights.
    """
    parsed = parse_spec(spec)
    network = (pipeline_registry.create(parsed) if pipeline
               else pipeline_registry.create("single", model=parsed))
    if network.learned:
        raise UsageError(
            f"'{parsed}' is a learned network and a SPEC carries no trained weights; "
            "run a trained checkpoint (--checkpoint) or bundle (--bundle) instead"
        )
    return Network(network, str(parsed))
