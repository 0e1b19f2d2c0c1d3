"""TorchScript of medden's bundles: ``models/model.ts``, and running it instead of building.

Building a bundle's network imports its plugins, and the network plugins import MONAI's
building blocks (``import monai`` loads all of MONAI: seconds of start-up).  The TorchScript
file needs torch only.  :func:`export_torchscript` writes it (the bundle writer,
:func:`medden.bundle.export_bundle`, calls it) the way MONAI's ``ckpt_export`` does -- the
scripted network with the bundle's ``metadata.json`` and ``inference.json`` as extra files --
plus :data:`TORCHSCRIPT_INFO`, what :class:`medden.infer.Denoising` reads from the network
as built (:class:`~medden.infer.Capabilities`), since a scripted module keeps no Python
attributes.

:func:`load_torchscript` gives the scripted network only when it provably is the network the
bundle's configs and weights build: the ``network_def`` stored in it equals the one of the
current ``configs/inference.json``, and its state dict equals ``models/model.pt`` tensor by
tensor (names, dtypes, shapes and values).  Anything else -- no file, an unreadable file, a
``model.ts`` of MONAI's ``ckpt_export`` (no :data:`TORCHSCRIPT_INFO`), configs or weights
changed since the export -- gives None, and the caller builds the network as before.  The
state dict being equal, :func:`medden.commands.denoise._weights_digest`, and with it every
derived DICOM UID, is the same on both paths.  The module's code is the code of the
plugins at export time: re-export after changing what a bundle's pipeline computes
(``tests/test_shipped_bundles.py`` compares the shipped files with the built networks).

Re-export the TorchScript of bundles from their ``model.pt`` and configs::

    python -m medden.bundle_torchscript bundles/xray_denoise [BUNDLE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medden.bundle_trust import DeclaredNetwork, declared_network
from medden.errors import UsageError
from medden.infer import Capabilities
from medden.requirements import missing

__all__ = ["TORCHSCRIPT_INFO", "read_weights", "export_torchscript", "load_torchscript"]

#: Extra file of ``model.ts`` holding the network's :class:`~medden.infer.Capabilities`.
TORCHSCRIPT_INFO = "medden.json"


def read_weights(folder: Path) -> Any:
    """The state dict of a bundle's ``models/model.pt`` (loaded with ``weights_only=True``;
    a checkpoint holding it under ``"model"`` gives that)."""
    weights = torch.load(folder / "models" / "model.pt", map_location="cpu", weights_only=True)
    if isinstance(weights, dict) and isinstance(weights.get("model"), dict):
        return weights["model"]
    return weights


def export_torchscript(folder: Path, network: nn.Module | None = None) -> Path:
    """Write ``folder/models/model.ts``: the bundle's network, scripted, with its configs.

    Parameters
    ----------
    folder : Path
        A bundle whose ``configs/inference.json`` is medden's own
        (:func:`medden.bundle_trust.declared_network`), with ``models/model.pt``.
    network : nn.Module, optional
        The bundle's network with ``model.pt`` loaded (the bundle writer has it); by default
        built from the configs and weights.

    Returns
    -------
    Path
        The file written (under a temporary name, then renamed).

    Raises
    ------
    UsageError
        When the configs are not medden's own, or the network cannot be scripted; an
        existing ``model.ts`` is removed then, since it no longer matches the bundle.
    """
    from medden.bundle import network as build

    declared = declared_network(folder)
    target = folder / "models" / "model.ts"
    if declared is None:
        raise UsageError(f"bundle '{folder}': configs/inference.json is not medden's own; "
                         "export its TorchScript with MONAI's ckpt_export")
    if network is None:
        network = build(declared.spec, declared.plugins)
        try:
            network.load_state_dict(read_weights(folder))
        except Exception as exc:  # noqa: BLE001 - any failure to load is a bad bundle
            raise UsageError(f"bundle '{folder}': models/model.pt cannot be loaded into "
                             f"{declared.spec}: {exc}") from None
    network = network.eval()
    try:
        scripted = torch.jit.script(network)
    except Exception as exc:  # noqa: BLE001 - TorchScript raises many kinds of errors
        target.unlink(missing_ok=True)
        raise UsageError(f"bundle '{folder}': models/model.ts not written, the network "
                         f"cannot be scripted ({type(exc).__name__}: {exc})") from None
    configs = folder / "configs"
    metadata = configs / "metadata.json"
    extra = {
        "metadata.json": metadata.read_text() if metadata.is_file() else "{}",
        "inference.json": (configs / "inference.json").read_text(),
        TORCHSCRIPT_INFO: json.dumps(asdict(Capabilities.of(network))),
    }
    tmp = target.with_name(".model.ts.tmp")
    torch.jit.save(scripted, str(tmp), _extra_files=extra)
    tmp.replace(target)
    return target


def _capabilities(text: str) -> Capabilities | None:
    """:class:`~medden.infer.Capabilities` from :data:`TORCHSCRIPT_INFO`; None when it is
    not what :func:`export_torchscript` writes."""
    try:
        info = json.loads(text)
        dims, channels, learned = info["spatial_dims"], info["channels"], info["learned"]
    except (ValueError, KeyError, TypeError):
        return None
    counts = [] if channels is None else channels
    if not (isinstance(dims, list) and dims and all(d in (2, 3) for d in dims)
            and isinstance(counts, list) and all(isinstance(c, int) and c > 0 for c in counts)
            and isinstance(learned, bool)):
        return None
    return Capabilities(tuple(dims), None if channels is None else tuple(channels), learned)


def _same_tensors(found: dict[str, torch.Tensor], expected: Any) -> bool:
    """Whether two state dicts hold the same names and exactly the same tensors."""
    if not isinstance(expected, dict) or found.keys() != expected.keys():
        return False
    return all(isinstance(w, torch.Tensor) and t.dtype == w.dtype and t.shape == w.shape
               and torch.equal(t, w) for t, w in ((found[k], expected[k]) for k in found))


def load_torchscript(folder: Path, declared: DeclaredNetwork
                     ) -> tuple[torch.jit.ScriptModule, Capabilities] | None:
    """The bundle's ``models/model.ts`` and what it accepts, when it is in sync.

    Parameters
    ----------
    folder : Path
        A bundle folder the caller trusts (the file's TorchScript code is run).
    declared : DeclaredNetwork
        The network its current ``configs/inference.json`` declares.

    Returns
    -------
    tuple or None
        The scripted network (on the CPU, in eval mode) and its capabilities; None when
        there is no such file, it cannot be read, it was not written by
        :func:`export_torchscript`, the configs' ``network_def`` or the weights of
        ``models/model.pt`` differ from those it was exported from, or a plugin
        distribution the bundle declares is not installed (building the network then says
        which, as without the file).
    """
    from medden.bundle import inference_config

    path = folder / "models" / "model.ts"
    if not path.is_file() or missing(declared.plugins):
        return None
    extra = {"inference.json": "", TORCHSCRIPT_INFO: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        stored = json.loads(extra["inference.json"]).get("network_def")
        weights = read_weights(folder)
    except Exception:  # noqa: BLE001 - an unreadable file is not used, whatever the reason
        return None
    capabilities = _capabilities(extra[TORCHSCRIPT_INFO])
    current = inference_config(declared.spec, declared.modality, declared.plugins)
    if capabilities is None or stored != current["network_def"] \
            or not _same_tensors(module.state_dict(), weights):
        return None
    return module.eval(), capabilities


def main(argv: list[str] | None = None) -> int:
    """Re-export the TorchScript of the bundles named on the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m medden.bundle_torchscript",
        description="Write BUNDLE/models/model.ts from the bundle's model.pt and configs "
                    "(what medden denoise runs without importing MONAI or the plugins).")
    parser.add_argument("bundles", nargs="+", type=Path, metavar="BUNDLE")
    args = parser.parse_args(argv)
    for folder in args.bundles:
        try:
            print(f"written: {export_torchscript(folder)}")
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
