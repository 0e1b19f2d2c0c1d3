"""The training engine: one ignite run per recipe phase, data-parallel via ignite.distributed.

:func:`train` runs a :class:`~medden.train.config.TrainConfig` end to end: it loads the data
(:mod:`medden.train.data`), builds the pipeline for the data's channel count, splits the
recipe into phases (:mod:`medden.train.recipes`) and trains each phase with
``ignite.engine.create_supervised_trainer(deterministic=True)``.  Handlers: validation PSNR /
SSIM / loss (ignite metrics), best checkpoint and resumable ``last.pt`` (ignite
``Checkpoint``, atomic), early stopping, LR schedules, CSV / TensorBoard / progress bar,
time limit.  ``ignite.distributed.Parallel`` runs the same code in one process, in
``distributed.nproc`` spawned processes (gloo), or under ``torchrun``.

Reproducibility: model initialisation, data order (a seeded ``DistributedSampler``),
patches, augmentation and noise (seeded per sample, :class:`~medden.train.data.SeededDataset`)
depend only on ``seed``; ignite's ``DeterministicEngine`` restores the RNG state and skips
the data already seen, so a run resumed from a mid-epoch ``last.pt`` ends with the same
weights as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
import yaml
from ignite.engine import Engine, Events, create_supervised_evaluator, create_supervised_trainer
from ignite.exceptions import NotComputableError
from ignite.handlers import Checkpoint, EarlyStopping, TimeLimit
from ignite.metrics import PSNR, SSIM, Average, Loss
from ignite.utils import manual_seed, setup_logger
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from medden.errors import UsageError
from medden.io.atomic import atomic_write
from medden.params import describe_parameters
from medden.pipeline import Pipeline
from medden.registry import (
    model_registry,
    noise_registry,
    pipeline_registry,
    recording_plugins,
)
from medden.requirements import requirements
from medden.spec import Spec, parse_spec
from medden.train.checkpoint import (
    EngineState,
    OverwritingDiskSaver,
    RunInfo,
    read_checkpoint,
    save_checkpoint,
)
from medden.train.config import TrainConfig, config_from_dict, config_to_dict, load_config
from medden.train.data import TrainingData, build_data
from medden.train.finetune import frozen_parameters, initialise_from
from medden.train.handlers import CsvLog, attach_progress, attach_tensorboard, read_csv_log
from medden.train.losses import MSELoss
from medden.train.recipes import Phase, build_phases, recipe_of

__all__ = ["TrainResult", "train", "with_channels"]

#: Config keys that may change between a run and its resumption.
_RESUMABLE_CHANGES = {"epochs", "iterations", "minutes", "stage_epochs", "joint_epochs",
                      "output", "log", "distributed", "performance", "early_stopping"}


@dataclass
class TrainResult:
    """Outcome of :func:`train` (also written to ``result.json`` in the run folder).

    Attributes
    ----------
    output : str
        The run folder.
    recipe : str
        Recipe trained.
    phases : list of str
        Phase names in order.
    last : str
        ``last.pt``: final weights, resumable.
    best : str or None
        ``best.pt``: best validated weights of the last phase (None without validation).
    input_metrics : dict
        Validation PSNR/SSIM of the noisy inputs themselves (the baseline).
    start_metrics : dict
        Validation metrics of the weights the run started from (``init.weights``: what
        fine-tuning improves on); empty for a run from scratch or a resumed one.
    final_metrics : dict
        Validation metrics of the last validation.
    best_score : float or None
        The monitored metric of ``best.pt`` (``-loss`` when monitoring the loss).
    iterations : int
        Training iterations of all phases.
    seconds : float
        Wall time of the training in the process that finished the run.
    iterations_per_second : float
        Training iterations run by that process per second of training.
    history : list of dict
        Rows of ``log.csv``.
    """

    output: str
    recipe: str
    phases: list[str]
    last: str
    best: str | None = None
    input_metrics: dict[str, float] = field(default_factory=dict)
    final_metrics: dict[str, float] = field(default_factory=dict)
    start_metrics: dict[str, float] = field(default_factory=dict)
    best_score: float | None = None
    iterations: int = 0
    seconds: float = 0.0
    iterations_per_second: float = 0.0
    history: list[dict[str, str]] = field(default_factory=list)


# --- building blocks -------------------------------------------------------------------


def with_channels(spec: Spec, channels: int) -> Spec:
    """``spec`` with ``in_channels=channels`` where the pipeline (or, for wrapper pipelines
    such as ``single``, its ``model`` SPEC) declares ``in_channels``."""
    declared = {p.name for p in describe_parameters(pipeline_registry.load(spec.name))}
    if "in_channels" in declared:
        return Spec(spec.name, {**spec.params, "in_channels": channels})
    if "model" in spec.params:
        model = parse_spec(spec.params["model"])
        if "in_channels" in {p.name for p in model_registry.parameters(model.name)}:
            inner = Spec(model.name, {**model.params, "in_channels": channels})
            return Spec(spec.name, {**spec.params, "model": inner})
    return spec


def _check_forward(pipeline: Pipeline, channels: int, spec: Spec) -> None:
    try:
        with torch.no_grad():
            pipeline.eval()(torch.zeros(1, channels, 32, 32))
    except Exception as exc:  # noqa: BLE001 - turned into a clear usage error
        raise UsageError(f"pipeline '{spec}' cannot process {channels}-channel images: "
                         f"{type(exc).__name__}: {exc}") from None


def _optimizer(config: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    opt = config.optimizer
    if opt.name == "sgd":
        return torch.optim.SGD(params, lr=opt.lr, momentum=opt.momentum,
                               weight_decay=opt.weight_decay)
    cls = torch.optim.AdamW if opt.name == "adamw" else torch.optim.Adam
    return cls(params, lr=opt.lr, betas=tuple(opt.betas), weight_decay=opt.weight_decay)


def _score_function(monitor: str):
    sign = -1.0 if monitor == "loss" else 1.0

    def score(engine: Engine) -> float:
        return sign * float(engine.state.metrics[monitor])

    return score


def _channels_last(prepare):
    def wrapped(batch: dict, device: Any = None, non_blocking: bool = False) -> tuple:
        x, y = prepare(batch, device, non_blocking)
        return x.contiguous(memory_format=torch.channels_last), y

    return wrapped


def _evaluator(network: nn.Module, loss: nn.Module, prepare) -> Engine:
    def clamped(output: tuple) -> tuple:
        return output[0].clamp(0.0, 1.0), output[1]

    metrics = {"psnr": PSNR(data_range=1.0, output_transform=clamped),
               "ssim": SSIM(data_range=1.0, output_transform=clamped),
               "loss": Loss(loss)}
    return create_supervised_evaluator(network, metrics=metrics, device=idist.device(),
                                       prepare_batch=prepare)


def _pairs(batch: dict, device: Any = None, non_blocking: bool = False) -> tuple:
    return (batch["input"].to(device, non_blocking=non_blocking),
            batch["target"].to(device, non_blocking=non_blocking))


def _check_resume(saved: dict[str, Any], current: dict[str, Any]) -> None:
    changed = sorted(k for k in current if k not in _RESUMABLE_CHANGES
                     and saved.get(k) != current[k])
    if changed:
        raise UsageError("cannot resume: the config differs from the checkpoint's in "
                         f"{', '.join(changed)} (only {', '.join(sorted(_RESUMABLE_CHANGES))}"
                         " may change)")


# --- one run ---------------------------------------------------------------------------


class _Run:
    """State shared by the phases of one training run in one process."""

    def __init__(self, config: TrainConfig, resume: bool) -> None:
        self.config = config
        self.out = Path(config.output)
        self.rank = idist.get_rank()
        last = self.out / "last.pt"
        if resume and not last.is_file():
            raise UsageError(f"--resume: there is no checkpoint '{last}' to resume from")
        if not resume and last.is_file():
            raise UsageError(f"'{self.out}' already holds a training run (last.pt); resume "
                             "it with --resume or choose another output folder")
        idist.barrier()  # every rank has checked before rank 0 writes anything
        spec = parse_spec(config.pipeline)
        with recording_plugins() as used:  # what the checkpoints will need
            self.recipe = config.recipe or pipeline_registry.load(spec.name).recipe
            self.noise = noise_registry.create(config.noise)
            self.data: TrainingData = build_data(config.data, self.noise, config.seed,
                                                 config.batch_size,
                                                 noisy_target=self.recipe == "noise2noise")
            self.spec = with_channels(spec, self.data.channels)
            manual_seed(config.seed)  # the same initial weights for the same seed
            self.pipeline: Pipeline = pipeline_registry.create(self.spec)
        _check_forward(self.pipeline, self.data.channels, self.spec)
        recipe_of(config, self.pipeline)
        if not len(self.data.val) and (config.early_stopping or config.schedule.name ==
                                       "plateau"):
            raise UsageError("early_stopping and the plateau schedule need validation "
                             "images (data.val or data.val_fraction > 0)")
        self.info = RunInfo(self.spec.to_dict(), self.recipe, config_to_dict(config),
                            requirements(used))
        self.state: dict[str, Any] | None = None
        if resume:
            self.state = read_checkpoint(last)
            _check_resume(self.state["run"]["config"], self.info.config)
            self.pipeline.load_state_dict(self.state["model"])
            self.info.load_state_dict(self.state["run"])
        elif config.init.weights:
            initialise_from(self.pipeline, config.init.weights, config.init.grow,
                            self.data.channels)
        self.frozen = frozen_parameters(self.pipeline, config.init.freeze,
                                         self.data.channels)
        if config.performance.channels_last:
            self.pipeline.to(memory_format=torch.channels_last)
        self.pipeline.to(idist.device())
        self.phases = build_phases(config, self.pipeline, self.recipe)
        prepare_val = self.phases[-1].prepare_val or _pairs
        self.prepare_val = _channels_last(prepare_val) if config.performance.channels_last \
            else prepare_val
        self.iterations = 0
        self.trained_iterations = 0
        self.train_seconds = 0.0
        self.best_score: float | None = None

    # evaluation -------------------------------------------------------------------------
    def val_loader(self) -> DataLoader:
        return DataLoader(self.data.val, batch_size=self.data.val_batch_size, shuffle=False,
                          num_workers=self.config.data.num_workers)

    def validation_metrics(self, network: nn.Module) -> dict[str, float]:
        """Validation metrics of ``network`` (the identity: of the noisy inputs, the
        baseline); empty without validation data."""
        if not len(self.data.val):
            return {}
        evaluator = _evaluator(network.to(idist.device()), MSELoss(), self.prepare_val)
        evaluator.run(self.val_loader())
        return {k: float(v) for k, v in evaluator.state.metrics.items()}

    def start_metrics(self) -> dict[str, float]:
        """Validation metrics of the initial weights of a fresh run from ``init.weights``."""
        if not self.config.init.weights or self.state is not None:
            return {}
        return self.validation_metrics(self.pipeline)

    # one phase --------------------------------------------------------------------------
    def _trainable(self, phase: Phase) -> list[nn.Parameter]:
        trained = {id(p) for name in phase.trained
                   for p in self.pipeline.stages[name].parameters()}
        params = []
        for param in self.pipeline.parameters():
            param.requires_grad_(id(param) in trained and id(param) not in self.frozen)
            if param.requires_grad:
                params.append(param)
        if not params:
            raise UsageError(f"phase '{phase.name}' has no trainable parameter left "
                             "(everything is frozen)")
        return params

    def _loader(self, index: int) -> tuple[DataLoader, DistributedSampler]:
        config, dataset = self.config, self.data.train
        world = idist.get_world_size()
        per_process = max(1, config.batch_size // world)
        drop_last = len(dataset) // world >= per_process
        sampler = DistributedSampler(dataset, num_replicas=world, rank=self.rank, shuffle=True,
                                     seed=config.seed + index, drop_last=drop_last)
        loader = idist.auto_dataloader(dataset, batch_size=config.batch_size, sampler=sampler,
                                       num_workers=config.data.num_workers,
                                       drop_last=drop_last)
        return loader, sampler

    def run_phase(self, index: int, phase: Phase, state: dict[str, Any] | None) -> None:
        """Train one phase (resuming from ``state`` when given), then keep its best."""
        config = self.config
        optimizer = idist.auto_optim(_optimizer(config, self._trainable(phase)))
        network = idist.auto_model(phase.network)
        if config.performance.compile:
            network = torch.compile(network)
        prepare = _channels_last(phase.prepare) if config.performance.channels_last \
            else phase.prepare
        trainer = create_supervised_trainer(network, optimizer, phase.loss,
                                            device=idist.device(), prepare_batch=prepare,
                                            deterministic=True)
        loader, sampler = self._loader(index)

        @trainer.on(Events.STARTED)
        def _seed(engine: Engine) -> None:  # after DeterministicEngine's own random seed
            engine.state.seed = config.seed + index

        @trainer.on(Events.EPOCH_STARTED)
        def _epoch(engine: Engine) -> None:
            self.data.train.set_epoch(engine.state.epoch)
            sampler.set_epoch(engine.state.epoch)

        train_loss = Average(output_transform=lambda loss: loss)
        train_loss.attach(trainer, "train_loss")

        @trainer.on(Events.COMPLETED)
        def _partial_epoch_loss(engine: Engine) -> None:  # on every rank: the metric syncs
            if engine.state.iteration % engine.state.epoch_length:
                with contextlib.suppress(NotComputableError):
                    engine.state.metrics["train_loss"] = train_loss.compute()
        to_save: dict[str, Any] = {"model": self.pipeline, "optimizer": optimizer,
                                   "trainer": EngineState(trainer), "run": self.info}
        evaluator = self._attach_validation(phase, trainer, optimizer, to_save)
        if config.schedule.name in ("step", "cosine"):
            scheduler = (torch.optim.lr_scheduler.StepLR(optimizer, config.schedule.step_size,
                                                         gamma=config.schedule.factor)
                         if config.schedule.name == "step" else
                         torch.optim.lr_scheduler.CosineAnnealingLR(
                             optimizer, T_max=phase.epochs, eta_min=config.schedule.min_lr))
            trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: scheduler.step())
            to_save["scheduler"] = scheduler
        logger = self._attach_logging(index, phase, trainer, evaluator, optimizer, state)
        saver = OverwritingDiskSaver(self.out, require_empty=False)
        last = Checkpoint(to_save, saver, filename_pattern="last.pt", n_saved=1)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, last)
        if config.checkpoint_every:
            every = config.checkpoint_every
            trainer.add_event_handler(Events.ITERATION_COMPLETED(
                event_filter=lambda e, it: it % every == 0 and it % e.state.epoch_length != 0),
                last)
        if config.minutes:
            trainer.add_event_handler(Events.ITERATION_COMPLETED,
                                      TimeLimit(int(config.minutes * 60)))
        if state is not None:
            Checkpoint.load_objects(to_load=to_save, checkpoint=state)
        start_iteration = trainer.state.iteration
        self.info.phase, self.info.phase_name = index, phase.name
        started = time.perf_counter()
        if config.iterations:
            trainer.run(loader, max_iters=config.iterations)
        else:
            trainer.run(loader, max_epochs=phase.epochs)
        self.train_seconds += time.perf_counter() - started
        self.trained_iterations += trainer.state.iteration - start_iteration
        self.iterations += trainer.state.iteration
        if logger is not None:
            logger.close()
        self._finish_phase(index, to_save.get("best"))
        # The engines and their handlers form reference cycles; collect them now so that a
        # DistributedDataParallel wrapper of this phase releases its gradient hooks before
        # the next phase wraps (some of) the same parameters again.
        del trainer, network, to_save
        gc.collect()

    def _attach_validation(self, phase: Phase, trainer: Engine, optimizer: torch.optim.Optimizer,
                           to_save: dict[str, Any]) -> Engine | None:
        config = self.config
        if not len(self.data.val):
            return None
        evaluator = _evaluator(phase.evaluate, phase.eval_loss, self.prepare_val)
        val_loader = self.val_loader()

        def _validate(engine: Engine) -> None:
            if getattr(evaluator.state, "validated_at", None) != engine.state.iteration:
                evaluator.run(val_loader)
                evaluator.state.validated_at = engine.state.iteration

        trainer.add_event_handler(Events.EPOCH_COMPLETED(every=config.validate_every),
                                  _validate)
        trainer.add_event_handler(Events.COMPLETED, _validate)  # a budget ended mid-epoch

        @evaluator.on(Events.COMPLETED)
        def _record(engine: Engine) -> None:  # before the best checkpoint is written
            self.info.metrics = {k: float(v) for k, v in engine.state.metrics.items()}

        score = _score_function(config.monitor)
        best = Checkpoint({"model": self.pipeline, "run": self.info},
                          OverwritingDiskSaver(self.out, require_empty=False),
                          filename_pattern="best.pt", n_saved=1, score_function=score,
                          score_name=config.monitor)
        evaluator.add_event_handler(Events.COMPLETED, best)
        to_save["best"] = best
        if config.schedule.name == "plateau":
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min" if config.monitor == "loss" else "max",
                factor=config.schedule.factor, patience=config.schedule.patience,
                min_lr=config.schedule.min_lr)
            evaluator.add_event_handler(
                Events.COMPLETED, lambda e: plateau.step(e.state.metrics[config.monitor]))
            to_save["scheduler"] = plateau
        if config.early_stopping:
            stopper = EarlyStopping(config.early_stopping, score, trainer)
            evaluator.add_event_handler(Events.COMPLETED, stopper)
            to_save["early_stopping"] = stopper
        return evaluator

    def _attach_logging(self, index: int, phase: Phase, trainer: Engine,
                        evaluator: Engine | None, optimizer: torch.optim.Optimizer,
                        state: dict[str, Any] | None):
        log = self.config.log
        if self.rank != 0:
            return None
        if log.csv:
            resume_at = int(state["trainer"]["iteration"]) if state is not None else None
            csv_log = CsvLog(self.out / "log.csv", index, phase.name, resume_at)
            for event in (Events.EPOCH_COMPLETED, Events.COMPLETED):
                trainer.add_event_handler(event, csv_log, evaluator, optimizer)
        if log.progress:
            attach_progress(trainer, f"{phase.name}")
        if log.tensorboard:
            return attach_tensorboard(self.out / "tb", phase.name, trainer, evaluator,
                                      optimizer, log.every)
        return None

    def _finish_phase(self, index: int, best: Checkpoint | None) -> None:
        idist.barrier()
        if best is not None and best.last_checkpoint is not None:
            self.best_score = float(best.state_dict()["_saved"][-1][0])
            if self.config.restore_best:
                self.pipeline.load_state_dict(read_checkpoint(best.last_checkpoint)["model"])
        self.info.phase = index + 1
        save_checkpoint(self.out / "last.pt", {"model": self.pipeline, "run": self.info})
        idist.barrier()

    # whole run --------------------------------------------------------------------------
    def execute(self) -> None:
        """Train every phase not yet done, then write ``result.json`` (rank 0)."""
        started = time.perf_counter()
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(yaml.safe_dump(self.info.config,
                                                                 sort_keys=False))
        baseline = self.validation_metrics(nn.Identity())
        start = self.start_metrics()
        for index, phase in enumerate(self.phases):
            if index < self.info.phase:
                continue
            resuming = self.state is not None and "trainer" in self.state \
                and index == self.info.phase
            self.run_phase(index, phase, self.state if resuming else None)
        if self.rank == 0:
            best = self.out / "best.pt"
            result = TrainResult(
                output=str(self.out), recipe=self.recipe, phases=[p.name for p in self.phases],
                last=str(self.out / "last.pt"), best=str(best) if best.is_file() else None,
                input_metrics=baseline, final_metrics=dict(self.info.metrics),
                start_metrics=start,
                best_score=self.best_score, iterations=self.iterations,
                seconds=time.perf_counter() - started,
                iterations_per_second=self.trained_iterations / max(self.train_seconds, 1e-9),
                history=read_csv_log(self.out / "log.csv"))
            with atomic_write(self.out / "result.json") as handle:
                handle.write(json.dumps(asdict(result), indent=2).encode())
        idist.barrier()


def _worker(local_rank: int, config: TrainConfig, resume: bool) -> None:
    threads = config.performance.threads
    if threads is None and idist.get_world_size() > 1:
        threads = max(1, (os.cpu_count() or 1) // idist.get_nproc_per_node())
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        _Run(config, resume).execute()
    finally:
        torch.set_num_threads(previous)  # train() in the caller's process leaves it as it was


#: ignite loggers that print INFO lines of their own (launch, data loader, model settings).
_IGNITE_LOGGERS = tuple(f"ignite.distributed.{name}" for name in (
    "launcher.Parallel", "auto.auto_dataloader", "auto.auto_model", "auto.auto_optim"))


def _quiet_ignite() -> None:
    """Let ignite's own loggers print warnings and errors only (the run reports itself)."""
    for name in _IGNITE_LOGGERS:
        setup_logger(name, level=logging.WARNING, reset=True)


def _as_config(config: TrainConfig | dict | str | Path) -> TrainConfig:
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, dict):
        return config_from_dict(config)
    return load_config(config)


def train(config: TrainConfig | dict | str | Path, resume: bool = False) -> TrainResult:
    """Train (or resume training) a pipeline as described by ``config``.

    Parameters
    ----------
    config : TrainConfig, dict or path
        The run: a config object, its mapping, or a YAML file.
    resume : bool
        Continue the run in ``config.output`` from its ``last.pt``.

    Returns
    -------
    TrainResult
        Paths, metrics and timing (also in ``<output>/result.json``).

    Raises
    ------
    UsageError
        Invalid config, unusable data, or an output folder that already holds a run
        (without ``resume``).
    """
    config = _as_config(config)
    _quiet_ignite()
    nproc = config.distributed.nproc
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1  # torchrun
    backend = config.distributed.backend if nproc > 1 or launched else None
    spawn = nproc if nproc > 1 and not launched else None
    with idist.Parallel(backend=backend, nproc_per_node=spawn) as parallel:
        parallel.run(_worker, config, resume)
    data = json.loads((Path(config.output) / "result.json").read_text())
    return TrainResult(**data)
