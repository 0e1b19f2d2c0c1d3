"""Training configuration: dataclasses, YAML loading, ``--set`` overrides and validation.

A run is described by one YAML file (see ``configs/`` for the papers' setups)::

    pipeline: single:model=fcn_sum
    noise: gaussian:sigma=25
    data: {train: [images/], patch_size: 64}
    epochs: 30
    optimizer: {name: adam, lr: 1.0e-3}

Every key has a default except ``data.train``.  The budget of each phase is ``epochs``
(default 10) or ``iterations``; ``minutes`` caps either, and alone it sets the budget (the
phase trains for that long).  ``--set data.patch_size=32`` style
overrides address nested keys with dots; values are read as YAML (``1e-3``, ``true``,
``[a, b]``).  Unknown keys, values of the wrong type and impossible combinations raise
:class:`ConfigError` with the dotted key in the message.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from medden.errors import UsageError
from medden.params import coerce
from medden.spec import SpecError, parse_spec

__all__ = [
    "ConfigError",
    "DEFAULT_EPOCHS",
    "UNTIL_TIME_LIMIT",
    "SELF_SUPERVISED",
    "AugmentConfig",
    "DataConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "LogConfig",
    "DistributedConfig",
    "PerformanceConfig",
    "InitConfig",
    "SelfSupervisedConfig",
    "TrainConfig",
    "load_config",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
]

#: Epochs of a phase when a config sets neither ``epochs`` nor ``minutes``.
DEFAULT_EPOCHS = 10
#: Epochs of a phase with only a ``minutes`` budget: more than the minutes allow.
UNTIL_TIME_LIMIT = 2**31 - 1

Monitor = Literal["psnr", "ssim", "loss"]
Recipe = Literal["noise2clean", "noise2noise", "staged", "two_stage", "neighbor2neighbor",
                 "n2v2"]
#: Recipes that train from the noisy image alone (:mod:`medden.train.self_supervised`).
SELF_SUPERVISED = ("neighbor2neighbor", "n2v2")


class ConfigError(UsageError):
    """A training configuration is invalid; the message names the key."""


@dataclass
class AugmentConfig:
    """Random augmentation of training patches (the MSE+SSIM paper's set).

    Attributes
    ----------
    rotate : float
        Rotations by a uniform angle in [-rotate, rotate] degrees (0 = off).
    flip : bool
        Random horizontal and vertical flips.
    quarter_turns : bool
        Random rotations by 90, 180 or 270 degrees in the image plane (with ``flip``, every
        one of the 8 flips and quarter turns); needs square patches (``patch_size``).
    zoom : tuple of float or None
        ``(min, max)`` zoom factor range, e.g. ``[0.8, 1.2]``.
    intensity : tuple of float or None
        ``(min, max)`` range of a factor the clean patch's intensities are multiplied by
        before the noise is drawn, e.g. ``[0.3, 1.0]``: darker copies of the images, so that
        the network also sees noise on dim tissue (at most 1: the patch stays in [0, 1]).
    prob : float
        Probability of each augmentation per patch.
    """

    rotate: float = 0.0
    flip: bool = False
    quarter_turns: bool = False
    zoom: tuple[float, float] | None = None
    intensity: tuple[float, float] | None = None
    prob: float = 0.5


@dataclass
class DataConfig:
    """Where the images are and how patches are drawn.

    Attributes
    ----------
    train : list of str
        Folders (or files) of training images, any format medden reads; volumes contribute
        their slices.
    val : list of str
        Held-out folders; when empty, ``val_fraction`` of the training images is held out.
    pairs : list of str
        Noise2Noise from paired acquisitions: folders holding a second noisy realisation of
        each training image at the same relative path (one per ``train`` folder).
    noisy : bool
        The images are noisy acquisitions without clean references: no noise is drawn,
        the self-supervised recipes (``neighbor2neighbor``, ``n2v2``) train on the images
        themselves and validation scores the network on sub-sampled pairs of them
        (:func:`medden.train.self_supervised.subsampled_pairs`).
    val_fraction : float
        Fraction of patients (or files) held out when ``val`` is empty.
    split_by : {"patient", "file"}
        Hold out whole patients (DICOM PatientID or ``patient_pattern``) or single files.
    patient_pattern : str or None
        Regular expression on the relative path whose first group is the patient id (e.g.
        ``'^(\\d+)_'`` for NIH ChestX-ray14 names).
    modality : str or None
        Intensity normalisation (``ct``, ``mr``, ``xray``, ``rgb``); None = detect.
    channels : int or None
        Convert images to 1 (gray) or 3 (RGB) channels; None = keep (must agree).
    resize : int or None
        Resize whole images to ``resize x resize`` before cropping (papers' 256² inputs).
    patch_size : int or None
        Side of the random square training patches; None = whole images.
    patches_per_image : int
        Patches drawn from each image per epoch.
    val_crop : int or None
        Centre crop for validation images; None = whole images.
    augment : AugmentConfig
        Random augmentation of training patches.
    num_workers : int
        DataLoader worker processes (0 = load in the training process).
    """

    train: list[str] = field(default_factory=list)
    val: list[str] = field(default_factory=list)
    pairs: list[str] = field(default_factory=list)
    noisy: bool = False
    val_fraction: float = 0.2
    split_by: Literal["patient", "file"] = "patient"
    patient_pattern: str | None = None
    modality: str | None = None
    channels: int | None = None
    resize: int | None = None
    patch_size: int | None = 64
    patches_per_image: int = 1
    val_crop: int | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    num_workers: int = 0


@dataclass
class OptimizerConfig:
    """Optimiser: ``adam``, ``adamw`` or ``sgd`` with its hyper-parameters."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    momentum: float = 0.9


@dataclass
class ScheduleConfig:
    """Learning-rate schedule.

    Attributes
    ----------
    name : {"none", "plateau", "step", "cosine"}
        ``plateau`` multiplies the rate by ``factor`` when the monitored validation metric
        has not improved for more than ``patience`` epochs; ``step`` every ``step_size``
        epochs; ``cosine`` anneals to ``min_lr`` over the phase's epochs.
    """

    name: Literal["none", "plateau", "step", "cosine"] = "none"
    factor: float = 0.1
    patience: int = 5
    step_size: int = 10
    min_lr: float = 0.0


@dataclass
class LogConfig:
    """Logging: progress bar, CSV (``log.csv``) and TensorBoard (``tb/``) in the run folder."""

    progress: bool = True
    csv: bool = True
    tensorboard: bool = True
    every: int = 10


@dataclass
class DistributedConfig:
    """Data-parallel training through ``ignite.distributed`` (gloo on CPU).

    ``nproc`` > 1 spawns that many processes; under ``torchrun`` leave it at 1.
    """

    nproc: int = 1
    backend: Literal["gloo", "nccl"] = "gloo"


@dataclass
class PerformanceConfig:
    """CPU threads per process, channels-last memory format, ``torch.compile``."""

    threads: int | None = None
    channels_last: bool = False
    compile: bool = False


@dataclass
class InitConfig:
    """Start from trained weights (transfer learning).

    Attributes
    ----------
    weights : str or None
        A medden checkpoint (``best.pt``/``last.pt``) or a MONAI bundle folder.
    freeze : list of str
        ``encoder`` (encoder parameters of every stage) and/or ``stage1`` (the first stage).
    grow : bool
        The pipeline is a wider version of the trained one (more features per layer): the
        trained weights fill part of each layer and the network starts out computing what
        the trained one did (:func:`medden.train.finetune.initialise_from`).
    """

    weights: str | None = None
    freeze: list[str] = field(default_factory=list)
    grow: bool = False


@dataclass
class SelfSupervisedConfig:
    """Parameters of the self-supervised recipes (:mod:`medden.train.self_supervised`).

    Attributes
    ----------
    gamma : float
        ``neighbor2neighbor``: weight of the regulariser (Huang et al. 2021: 2).
    masked_fraction : float
        ``n2v2``: fraction of the pixels masked per patch (Noise2Void's 0.2 %).
    struct : {"none", "row", "column", "box"}
        ``n2v2``: structN2V mask for noise correlated along rows, columns or in a
        neighbourhood (Broaddus et al. 2020).
    struct_span : int
        ``n2v2``: length (odd) of the struct mask.
    replace_window : int
        ``n2v2``: side (odd) of the neighbourhood whose median replaces a masked pixel.
    """

    gamma: float = 2.0
    masked_fraction: float = 0.002
    struct: Literal["none", "row", "column", "box"] = "none"
    struct_span: int = 5
    replace_window: int = 5


@dataclass
class TrainConfig:
    """A whole training run (see the module docstring and ``configs/``).

    Attributes
    ----------
    pipeline : str or dict
        Pipeline SPEC, e.g. ``single:model=cae`` or ``skidnet_deep_attention``.
    recipe : str or None
        ``noise2clean``, ``noise2noise``, ``staged``, ``two_stage``, or the
        self-supervised ``neighbor2neighbor`` and ``n2v2``; None = the pipeline's own recipe.
    self_supervised : SelfSupervisedConfig
        Parameters of the self-supervised recipes.
    noise : str or dict
        Noise SPEC drawn on the fly (fresh every epoch, reproducible by ``seed``).
    seed : int
        Seed of the data order, patches, augmentation and noise.
    output : str
        Run folder: ``last.pt``, ``best.pt``, ``log.csv``, ``tb/``, ``result.json``.
    batch_size : int
        Global batch size (split over processes).
    epochs : int or None
        Epochs per training phase; None (unset): 10, or with ``minutes`` as many as the
        minutes allow (see :attr:`phase_epochs`).
    iterations : int or None
        Iteration budget per phase instead of ``epochs``.
    minutes : float or None
        Wall-clock budget per phase: alone, the phase trains this long; with ``epochs`` or
        ``iterations``, it stops at whichever comes first (not reproducibly when the
        minutes end it).
    stage_epochs : dict
        Epochs of single phases, by stage name (``staged``) or ``joint``.
    joint_epochs : int
        ``staged``: epochs of joint fine-tuning of the whole pipeline after the stages.
    loss : str or None
        Loss SPEC of the network (``mse``, ``l1``, ``ssim``, ``mse_ssim``,
        ``charbonnier``, ``log_mse``); None = the pipeline's default per stage.
    stage_losses : dict
        Loss SPEC per stage name.
    monitor : {"psnr", "ssim", "loss"}
        Validation metric for the best checkpoint, ``plateau`` and early stopping.
    early_stopping : int or None
        Stop a phase after this many validations without improvement.
    restore_best : bool
        At the end of a phase, continue from its best validated weights.
    validate_every : int
        Validate every this many epochs.
    checkpoint_every : int or None
        Also write ``last.pt`` every this many iterations (mid-epoch); it is always
        written at the end of each epoch.
    """

    pipeline: str | dict[str, Any] = "single:model=fcn_sum"
    recipe: Recipe | None = None
    self_supervised: SelfSupervisedConfig = field(default_factory=SelfSupervisedConfig)
    noise: str | dict[str, Any] = "gaussian:sigma=25"
    seed: int = 0
    output: str = "runs/train"
    data: DataConfig = field(default_factory=DataConfig)
    batch_size: int = 16
    epochs: int | None = None
    iterations: int | None = None
    minutes: float | None = None
    stage_epochs: dict[str, int] = field(default_factory=dict)
    joint_epochs: int = 0
    loss: str | dict[str, Any] | None = None
    stage_losses: dict[str, str] = field(default_factory=dict)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    monitor: Monitor = "psnr"
    early_stopping: int | None = None
    restore_best: bool = True
    validate_every: int = 1
    checkpoint_every: int | None = None
    log: LogConfig = field(default_factory=LogConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    performance: PerformanceConfig = field(default_factory=PerformanceConfig)
    init: InitConfig = field(default_factory=InitConfig)

    @property
    def phase_epochs(self) -> int:
        """Epoch budget of a phase (``stage_epochs`` aside): ``epochs`` when set; else
        :data:`DEFAULT_EPOCHS`, or :data:`UNTIL_TIME_LIMIT` with a ``minutes`` budget."""
        if self.epochs is not None:
            return self.epochs
        return UNTIL_TIME_LIMIT if self.minutes else DEFAULT_EPOCHS


# --- building from mappings ------------------------------------------------------------


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _convert(value: Any, annotation: Any, where: str) -> Any:
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"'{where}' must be a mapping, got {value!r}")
        return _build(annotation, value, f"{where}.")
    origin = typing.get_origin(annotation)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{where}' must be a mapping, got {value!r}")
        value_type = typing.get_args(annotation)[1]
        return {str(k): _convert(v, value_type, f"{where}.{k}") for k, v in value.items()}
    options = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(options) == 1 and value is not None:
        annotation, origin = options[0], typing.get_origin(options[0])  # X | None: check X
    if origin is list and isinstance(value, str):
        value = [value]  # one folder given as a string
    try:
        return coerce(value, annotation, where)
    except SpecError as exc:
        raise ConfigError(str(exc).replace("parameter ", "", 1)) from None


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(
                f"unknown config key '{where}'{_suggest(str(key), names)}; valid keys"
                f"{' under ' + prefix.rstrip('.') if prefix else ''}: {', '.join(names)}"
            )
        kwargs[key] = _convert(value, hints[key], where)
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from a (YAML) mapping.

    Raises
    ------
    ConfigError
        Unknown key, wrong type or invalid value; the message names the key.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"a training config must be a mapping, got {type(data).__name__}")
    config = _build(TrainConfig, data)
    validate(config)
    return config


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain (YAML/JSON/checkpoint-safe) mapping of ``config``; tuples become lists."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(config))


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values read as YAML) to a config mapping.

    Raises
    ------
    ConfigError
        When an override is not ``key=value``.
    """
    for item in overrides:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--set expects key=value (e.g. optimizer.lr=5e-4), got '{item}'")
        _set_dotted(data, key.strip(), _parse_value(raw.strip()))
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                ) -> TrainConfig:
    """Read a YAML config file (or start from defaults), apply overrides, validate.

    Relative data and output paths are taken relative to the current directory.

    Raises
    ------
    ConfigError
        When the file cannot be read or the result is invalid.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config '{path}': {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config '{path}' is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config '{path}' must hold a mapping of keys")
        data = loaded or {}
    return config_from_dict(apply_overrides(data, overrides or []))


# --- validation ------------------------------------------------------------------------


def _positive(value: float | None, key: str, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if value is None or value <= 0:
        raise ConfigError(f"'{key}' must be > 0, got {value}")


def _check_spec(value: Any, key: str) -> None:
    try:
        parse_spec(value)
    except SpecError as exc:
        raise ConfigError(f"'{key}': {exc}") from None


def validate(config: TrainConfig) -> None:
    """Check values and combinations that types alone cannot (no file system access).

    Raises
    ------
    ConfigError
        Naming the offending key.
    """
    data = config.data
    if not data.train:
        raise ConfigError("'data.train' is required: the folder(s) of training images")
    for key in ("pipeline", "noise"):
        _check_spec(getattr(config, key), key)
    if config.loss is not None:
        _check_spec(config.loss, "loss")
    for stage, loss in config.stage_losses.items():
        _check_spec(loss, f"stage_losses.{stage}")
    for key, value in [
        ("batch_size", config.batch_size),
        ("validate_every", config.validate_every), ("optimizer.lr", config.optimizer.lr),
        ("data.patches_per_image", data.patches_per_image), ("log.every", config.log.every),
        ("distributed.nproc", config.distributed.nproc),
    ]:
        _positive(value, key, allow_none=False)
    for key, value in [
        ("epochs", config.epochs), ("iterations", config.iterations),
        ("minutes", config.minutes),
        ("checkpoint_every", config.checkpoint_every),
        ("early_stopping", config.early_stopping), ("data.resize", data.resize),
        ("data.patch_size", data.patch_size), ("data.val_crop", data.val_crop),
        ("performance.threads", config.performance.threads),
    ]:
        _positive(value, key)
    for stage, epochs in config.stage_epochs.items():
        _positive(epochs, f"stage_epochs.{stage}", allow_none=False)
    if config.joint_epochs < 0:
        raise ConfigError(f"'joint_epochs' must be >= 0, got {config.joint_epochs}")
    if not 0.0 <= data.val_fraction < 1.0:
        raise ConfigError(f"'data.val_fraction' must be in [0, 1), got {data.val_fraction}")
    if data.channels not in (None, 1, 3):
        raise ConfigError(f"'data.channels' must be 1 or 3, got {data.channels}")
    if data.pairs and len(data.pairs) != len(data.train):
        raise ConfigError("'data.pairs' needs one folder per 'data.train' folder "
                          f"({len(data.pairs)} vs {len(data.train)})")
    if data.pairs and config.recipe != "noise2noise":
        raise ConfigError("'data.pairs' (paired noisy acquisitions) needs recipe: noise2noise")
    if data.noisy and config.recipe not in SELF_SUPERVISED:
        raise ConfigError("'data.noisy' (noisy images without clean references) needs a "
                          f"self-supervised recipe: {' or '.join(SELF_SUPERVISED)} (or "
                          "'data.pairs' with noise2noise)")
    ssl = config.self_supervised
    if not 0 < ssl.masked_fraction <= 0.5:
        raise ConfigError("'self_supervised.masked_fraction' must be in (0, 0.5], got "
                          f"{ssl.masked_fraction}")
    for key in ("struct_span", "replace_window"):
        value = getattr(ssl, key)
        if value < 1 or value % 2 == 0:
            raise ConfigError(f"'self_supervised.{key}' must be odd and positive, got {value}")
    if ssl.gamma < 0:
        raise ConfigError(f"'self_supervised.gamma' must be >= 0, got {ssl.gamma}")
    augment = data.augment
    if augment.zoom is not None and not 0 < augment.zoom[0] <= augment.zoom[1]:
        raise ConfigError(f"'data.augment.zoom' must be [min, max] with 0 < min <= max, "
                          f"got {list(augment.zoom)}")
    if augment.intensity is not None and not 0 < augment.intensity[0] <= augment.intensity[1] <= 1:
        raise ConfigError("'data.augment.intensity' must be [min, max] with "
                          f"0 < min <= max <= 1, got {list(augment.intensity)}")
    if not 0.0 <= augment.prob <= 1.0:
        raise ConfigError(f"'data.augment.prob' must be in [0, 1], got {augment.prob}")
    if augment.quarter_turns and data.patch_size is None:
        raise ConfigError("'data.augment.quarter_turns' needs square patches: set "
                          "'data.patch_size' (whole images of other shapes would not batch)")
    if config.schedule.name == "plateau" and config.schedule.patience < 0:
        raise ConfigError("'schedule.patience' must be >= 0")
    if config.schedule.name == "cosine" and config.phase_epochs == UNTIL_TIME_LIMIT:
        raise ConfigError("'schedule.name: cosine' anneals over a phase's epochs: set 'epochs' "
                          "(with 'minutes' alone, the number of epochs is not known)")
    if not 0 < config.schedule.factor < 1:
        raise ConfigError(f"'schedule.factor' must be in (0, 1), got {config.schedule.factor}")
    unknown = set(config.init.freeze) - {"encoder", "stage1"}
    if unknown:
        raise ConfigError(f"'init.freeze' accepts 'encoder' and 'stage1', got {sorted(unknown)}")
    if config.init.freeze and config.init.weights is None:
        raise ConfigError("'init.freeze' needs trained weights in 'init.weights'")
    if config.init.grow and config.init.weights is None:
        raise ConfigError("'init.grow' needs trained weights in 'init.weights'")
