"""How many inputs a tree run works on at once, and torch's threads for each of them.

For a trained network (``concurrent=True``), :func:`medden.process.process_tree` reads and
computes each input in flight in a thread of its own (``jobs`` of them) and shares torch's
intra-op threads out among them (:func:`shared_threads`).  On a CPU, running whole images
side by side scales better than splitting every layer of one network call between the cores:
each call synchronises its threads a few hundred times, and a thread that waits for a core
(another job on the machine) or to be woken stalls the others.  The X-ray bundle's network on
8 images of 512², 2 cores: 1.4-1.8 s two at a time with one thread each, 1.6-2.0 s one at a
time with both threads on the idle machine; 2.6-2.8 s against 2.8-3.4 s beside two training
jobs (docs/benchmarks.md, issue 25).  By default (:func:`auto_jobs`) only inputs small enough
that several of them fit in memory are run side by side.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

__all__ = ["AUTO_LIMIT", "SMALL", "WORKER_THREADS", "auto_jobs", "in_worker", "shared_threads",
           "side_by_side"]

#: Most inputs :func:`auto_jobs` runs at once.
AUTO_LIMIT = 4
#: Largest input (pixels per channel; a 2048² image) :func:`auto_jobs` runs beside others.
SMALL = 1 << 22
#: Name prefix of the threads that read (and compute) the inputs in flight.
WORKER_THREADS = "medden-work"


def side_by_side(network: torch.nn.Module, learned: bool) -> bool:
    """Whether images may be denoised side by side by ``network``: a trained network (as
    ``learned`` says; classical filters go one at a time) none of whose modules is marked
    not :attr:`~medden.models.Denoiser.thread_safe` (a bundle or pipeline with a BM3D
    stage).  A TorchScript module holds no such stage: it is scripted from torch code."""
    return learned and all(getattr(module, "thread_safe", True) for module in network.modules())


def auto_jobs(pixels: Sequence[int]) -> int:
    """The default number of inputs in flight for a trained network, given the inputs'
    pixels.

    One per torch thread (at most :data:`AUTO_LIMIT`, at most one per input) when every input
    has at most :data:`SMALL` pixels per channel; else 1, so that a volume is read,
    normalised and denoised one at a time with all the threads, in bounded memory.
    """
    if not pixels or max(pixels) > SMALL:
        return 1
    return max(1, min(torch.get_num_threads(), AUTO_LIMIT, len(pixels)))


@contextmanager
def shared_threads(jobs: int) -> Iterator[None]:
    """Give each of ``jobs`` concurrent computations its share of torch's intra-op threads
    (at least one), and restore the number afterwards; nothing changes for one job."""
    threads = torch.get_num_threads()
    if jobs > 1:
        torch.set_num_threads(max(1, threads // jobs))
    try:
        yield
    finally:
        if jobs > 1:
            torch.set_num_threads(threads)


def in_worker() -> bool:
    """Whether this thread is one of the inputs in flight (:data:`WORKER_THREADS`): progress
    bars of several images at once would overwrite each other."""
    return threading.current_thread().name.startswith(WORKER_THREADS)
