"""The processes of a distributed run (torchrun, Slurm ``srun``), through ignite.distributed.

A command started by a launcher that sets ``RANK`` / ``WORLD_SIZE`` (``torchrun``, on one
node or several) or by ``srun`` with several tasks joins one gloo process group (ignite
reads Slurm's variables); :func:`world` gives the process its :class:`~medden.shard.Shard`.
Only Python objects (reports, benchmark records) travel between processes; images are read
and written by each process on the shared file system.  Started any other way, a command
runs alone, as it always did.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from medden.shard import Shard

__all__ = ["launched", "world", "gather"]


def launched() -> bool:
    """Whether this process is one of several started by a launcher: ``WORLD_SIZE`` above 1
    (torchrun and the like) or a Slurm job step of several tasks."""
    size = os.environ.get("WORLD_SIZE") or os.environ.get("SLURM_STEP_NUM_TASKS") or "1"
    return int(size) > 1


@contextmanager
def world() -> Iterator[Shard | None]:
    """Join the launcher's process group (gloo) for the duration; yield this process's shard
    (rank / world size), or None when not :func:`launched`.

    Each process uses its share of the node's cores for torch (cores / processes per node).
    """
    if not launched():
        yield None
        return
    import ignite.distributed as idist  # only distributed runs need it

    idist.initialize("gloo")
    try:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // idist.get_nproc_per_node()))
        yield Shard(idist.get_rank(), idist.get_world_size())
    finally:
        idist.finalize()


def gather(value: Any) -> list[Any]:
    """Every process's ``value`` (any picklable object), by rank, in every process."""
    import ignite.distributed as idist

    return idist.all_gather(value)
