"""Logging handlers of a training run: CSV rows, TensorBoard, progress bar.

All of them run on rank 0 only (the caller checks).  The CSV log has one row per epoch;
when a run is resumed, rows written after the checkpoint it resumes from are dropped, so
the log reads as if the run had never been interrupted.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from ignite.engine import Engine, Events
from ignite.handlers import ProgressBar, TensorboardLogger, global_step_from_engine
from torch.optim import Optimizer

__all__ = ["CSV_FIELDS", "CsvLog", "read_csv_log", "attach_tensorboard", "attach_progress"]

CSV_FIELDS = ["phase", "phase_name", "epoch", "iteration", "train_loss", "psnr", "ssim",
              "loss", "lr", "seconds"]


def read_csv_log(path: Path) -> list[dict[str, str]]:
    """Rows of a run's ``log.csv`` (empty when absent)."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


class CsvLog:
    """Append one row per training epoch (and one when a budget stops an epoch) to ``log.csv``.

    Parameters
    ----------
    path : Path
        The CSV file (created with a header when absent).
    phase : int
        Index of the current phase.
    phase_name : str
        Its name.
    resume_iteration : int or None
        When resuming inside ``phase``: rows of this phase after that iteration, and rows
        of later phases, are removed first.
    """

    def __init__(self, path: Path, phase: int, phase_name: str,
                 resume_iteration: int | None = None) -> None:
        self.path = path
        self.phase = phase
        self.phase_name = phase_name
        self.start = time.perf_counter()
        self.last_iteration = resume_iteration
        rows = read_csv_log(path)
        kept = [r for r in rows if int(r["phase"]) < phase or (
            int(r["phase"]) == phase and resume_iteration is not None
            and int(r["iteration"]) <= resume_iteration)]
        if len(kept) != len(rows) or not path.is_file():
            self._write(kept)

    def _write(self, rows: list[dict]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)

    def __call__(self, trainer: Engine, evaluator: Engine | None, optimizer: Optimizer,
                 ) -> None:
        """Append the row of the epoch ``trainer`` completed (or stopped in), once."""
        if trainer.state.iteration == self.last_iteration:
            return
        self.last_iteration = trainer.state.iteration
        metrics = {}
        if evaluator is not None and \
                getattr(evaluator.state, "validated_at", None) == trainer.state.iteration:
            metrics = evaluator.state.metrics
        row = {
            "phase": self.phase, "phase_name": self.phase_name,
            "epoch": trainer.state.epoch, "iteration": trainer.state.iteration,
            "train_loss": _fmt(trainer.state.metrics.get("train_loss")),
            "psnr": _fmt(metrics.get("psnr")), "ssim": _fmt(metrics.get("ssim")),
            "loss": _fmt(metrics.get("loss")),
            "lr": _fmt(optimizer.param_groups[0]["lr"]),
            "seconds": f"{time.perf_counter() - self.start:.2f}",
        }
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, CSV_FIELDS).writerow(row)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{float(value):.6g}"


def attach_tensorboard(log_dir: Path, tag: str, trainer: Engine, evaluator: Engine | None,
                       optimizer: Optimizer, every: int) -> TensorboardLogger:
    """Log the training loss and learning rate every ``every`` iterations and the
    validation metrics after each validation, under ``tag``.  Close the logger when done."""
    logger = TensorboardLogger(log_dir=str(log_dir))
    logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED(every=every),
                                 tag=f"{tag}/train", output_transform=lambda loss: {"loss": loss})
    logger.attach_opt_params_handler(trainer, Events.ITERATION_COMPLETED(every=every),
                                     optimizer, tag=tag)
    if evaluator is not None:
        logger.attach_output_handler(evaluator, Events.COMPLETED, tag=f"{tag}/val",
                                     metric_names="all",
                                     global_step_transform=global_step_from_engine(trainer))
    return logger


def attach_progress(trainer: Engine, description: str) -> ProgressBar:
    """A tqdm progress bar over each epoch showing the running loss."""
    bar = ProgressBar(persist=False, desc=description)
    bar.attach(trainer, output_transform=lambda loss: {"loss": loss})
    return bar
