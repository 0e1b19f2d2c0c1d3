"""Self-describing, atomically written checkpoints.

A medden checkpoint is a ``torch.save``'d dict that loads with ``weights_only=True``:

``model``
    The pipeline's ``state_dict``.
``run``
    :class:`RunInfo`: format tag, the pipeline SPEC (with ``in_channels``), the recipe, the
    whole training config, the phase reached, the last validation metrics and the
    third-party plugin distributions the run used (``plugins``: name to version), so
    :func:`load_checkpoint` rebuilds the network without any other file, or names the
    package to install when a plugin is missing.
``optimizer``, ``trainer``, ``scheduler``, ``early_stopping``, ``best`` (``last.pt`` only)
    What ``--resume`` needs to continue a phase exactly where it stopped.

A MONAI bundle folder (``configs/inference.json`` naming the pipeline SPEC in
``network_def``, ``models/model.pt`` holding its state dict) reads as a checkpoint too.

Files are written by ignite's :class:`~ignite.handlers.DiskSaver` (temporary file in the
same folder, then :func:`os.replace`), so a reader never sees a half-written checkpoint,
even if the process is killed while saving.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine
from ignite.handlers import DiskSaver

from medden.errors import UsageError
from medden.pipeline import Pipeline
from medden.registry import pipeline_registry
from medden.requirements import plugins_needed
from medden.spec import parse_spec

__all__ = ["FORMAT", "RunInfo", "EngineState", "OverwritingDiskSaver", "read_checkpoint",
           "load_checkpoint", "save_checkpoint", "checkpoint_file"]

FORMAT = "medden-checkpoint/1"


class OverwritingDiskSaver(DiskSaver):
    """ignite ``DiskSaver`` for fixed file names (``last.pt``, ``best.pt``).

    ignite's :class:`~ignite.handlers.Checkpoint` removes the previous file before writing
    a new one of the same name; here removal is a no-op, because the atomic write replaces
    the old file in one step — there is never a moment without a complete checkpoint.
    """

    def remove(self, filename: str) -> None:
        """Keep the file: the next save replaces it atomically."""


class RunInfo:
    """Checkpointable run description (the ``run`` entry of every checkpoint).

    Parameters
    ----------
    pipeline : dict
        Pipeline SPEC as ``{"name": ..., "params": {...}}``.
    recipe : str
        Training recipe.
    config : dict
        The training config (:func:`medden.train.config.config_to_dict`).
    plugins : dict, optional
        Third-party distributions of the plugins the run uses, name to version
        (:func:`medden.requirements.requirements`).
    """

    def __init__(self, pipeline: dict, recipe: str, config: dict,
                 plugins: dict[str, str] | None = None) -> None:
        self.pipeline = pipeline
        self.recipe = recipe
        self.config = config
        self.plugins = dict(plugins or {})
        self.phase = 0
        self.phase_name = ""
        self.metrics: dict[str, float] = {}

    def state_dict(self) -> dict[str, Any]:
        """Plain-data form stored in checkpoints."""
        return {"format": FORMAT, "pipeline": self.pipeline, "recipe": self.recipe,
                "config": self.config, "phase": self.phase, "phase_name": self.phase_name,
                "metrics": dict(self.metrics), "plugins": dict(self.plugins)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the progress fields (phase, metrics) from a checkpoint."""
        self.phase = int(state["phase"])
        self.phase_name = str(state.get("phase_name", ""))
        self.metrics = dict(state.get("metrics", {}))


def _rng_to_plain(states: list) -> list:
    """ignite's ``[random, torch, numpy]`` RNG states without numpy arrays."""
    py, torch_state, *rest = states
    out = [py, torch_state]
    if rest:
        name, keys, pos, has_gauss, cached = rest[0]
        out.append((name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                    float(cached)))
    return out


def _rng_from_plain(states: list) -> list:
    py, torch_state, *rest = states
    py = (py[0], tuple(py[1]), py[2])
    out = [py, torch_state]
    if rest:
        name, keys, pos, has_gauss, cached = rest[0]
        out.append((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    return out


class EngineState:
    """A :class:`~ignite.engine.DeterministicEngine`'s state, safe for ``weights_only``.

    Its RNG states (Python, torch, numpy) are kept without numpy arrays.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def state_dict(self) -> OrderedDict:
        """The engine's state dict with plain RNG states."""
        state = self.engine.state_dict()
        if state.get("rng_states") is not None:
            state["rng_states"] = _rng_to_plain(state["rng_states"])
        return state

    def load_state_dict(self, state: dict) -> None:
        """Load a state written by :meth:`state_dict`."""
        state = OrderedDict(state)
        if state.get("rng_states") is not None:
            state["rng_states"] = _rng_from_plain(list(state["rng_states"]))
        self.engine.load_state_dict(state)


def checkpoint_file(path: str | Path) -> Path:
    """The checkpoint file for ``path``: itself, a run folder's ``best.pt`` (else
    ``last.pt``), or a MONAI bundle's ``models/model.pt``.

    Raises
    ------
    UsageError
        When no checkpoint is found there.
    """
    path = Path(path)
    if path.is_file():
        return path
    for candidate in (path / "best.pt", path / "last.pt", path / "models" / "model.pt"):
        if candidate.is_file():
            return candidate
    raise UsageError(f"no checkpoint at '{path}' (expected a .pt file, a run folder with "
                     "best.pt/last.pt, or a bundle with models/model.pt)")


def _bundle_run(folder: Path) -> dict[str, Any]:
    """The ``run`` entry of a MONAI bundle whose ``models/model.pt`` is a bare state dict:
    the SPEC and plugin distributions of ``network_def`` in ``configs/inference.json`` and
    the training config of ``configs/train.json``."""
    try:
        inference = json.loads((folder / "configs" / "inference.json").read_text())
        train_file = folder / "configs" / "train.json"
        training = json.loads(train_file.read_text()).get("training", {}) \
            if train_file.is_file() else {}
        spec = parse_spec(inference["network_def"]["spec"])
        plugins = dict(inference["network_def"].get("plugins") or {})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"bundle '{folder}': cannot read the pipeline SPEC of "
                         f"configs/inference.json network_def: {exc}") from None
    with plugins_needed(plugins, f"bundle '{folder}'"):
        recipe = training.get("recipe") or pipeline_registry.load(spec.name).recipe
    return {"format": FORMAT, "pipeline": spec.to_dict(), "recipe": recipe,
            "config": training, "phase": 0, "phase_name": "bundle", "metrics": {},
            "plugins": plugins}


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a medden checkpoint dict (``weights_only=True``).

    A MONAI bundle folder whose ``models/model.pt`` holds a bare state dict (or one under
    ``"model"``) is read as a checkpoint of the pipeline its ``network_def`` names.

    Raises
    ------
    UsageError
        When the file is missing, unreadable or not a medden checkpoint.
    """
    file = checkpoint_file(path)
    try:
        data = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem is a bad checkpoint
        raise UsageError(f"cannot read checkpoint '{file}': {type(exc).__name__}: {exc}") \
            from None
    if not isinstance(data, dict):
        raise UsageError(f"'{file}' is not a medden checkpoint")
    if data.get("run", {}).get("format") == FORMAT:
        return data
    bundle = file.parent.parent
    if file.name == "model.pt" and (bundle / "configs" / "inference.json").is_file():
        state = data["model"] if isinstance(data.get("model"), dict) else data
        return {"model": state, "run": _bundle_run(bundle)}
    raise UsageError(f"'{file}' is not a medden checkpoint (no '{FORMAT}' run info)")


def save_checkpoint(path: str | Path, objects: dict[str, Any]) -> None:
    """Atomically write ``{name: obj.state_dict()}`` to ``path`` (on rank 0)."""
    path = Path(path)
    saver = OverwritingDiskSaver(path.parent, require_empty=False)
    saver({name: obj.state_dict() for name, obj in objects.items()}, path.name)


def build_pipeline(run: dict[str, Any], what: str = "the checkpoint") -> Pipeline:
    """A fresh (untrained) pipeline from a checkpoint's ``run`` entry.

    Raises
    ------
    UsageError
        When a plugin it needs is missing and the ``run`` entry names its distribution
        (``what`` names the checkpoint in the message).
    """
    with plugins_needed(run.get("plugins") or {}, what):
        return pipeline_registry.create(parse_spec(run["pipeline"]))


def load_checkpoint(path: str | Path) -> tuple[Pipeline, dict[str, Any]]:
    """Rebuild the trained pipeline stored in a checkpoint.

    Parameters
    ----------
    path : str or Path
        A ``.pt`` file, a run folder (``best.pt``, else ``last.pt``) or a bundle folder
        (``models/model.pt``).

    Returns
    -------
    pipeline : Pipeline
        In eval mode, on the CPU.
    info : dict
        The checkpoint's ``run`` entry (pipeline SPEC, recipe, config, phase, metrics)
        plus ``"path"``.

    Raises
    ------
    UsageError
        When the file is not a medden checkpoint, its weights do not fit its pipeline, or a
        plugin distribution it was made with is not installed.
    """
    data = read_checkpoint(path)
    run = dict(data["run"])
    pipeline = build_pipeline(run, f"checkpoint '{path}'")
    try:
        pipeline.load_state_dict(data["model"])
    except RuntimeError as exc:
        raise UsageError(f"weights in '{path}' do not fit pipeline "
                         f"{parse_spec(run['pipeline'])}: {exc}") from None
    run["path"] = str(checkpoint_file(path))
    return pipeline.eval(), run
