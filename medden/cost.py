"""Computational cost of a denoiser: parameters, MACs, CPU time and peak memory.

Used by ``medden benchmark`` and the model tables of the documentation.  Every function
takes any :class:`torch.nn.Module` mapping ``(B, C, *spatial)`` to the same shape: learned
networks, classical filters (no parameters, no MACs) and pipelines alike.
"""

from __future__ import annotations

import ctypes
import os
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_parameters", "count_macs", "time_inference", "peak_memory_mb", "cost_row"]

_MIB = 2**20
_STATUS = Path("/proc/self/status")
_STATM = Path("/proc/self/statm")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (elements of parameters with ``requires_grad``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@contextmanager
def _evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode for the block and restore its mode afterwards."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def _is_learned(module: nn.Module) -> bool:
    """False for classical filters (``learned = False``), True otherwise."""
    return bool(getattr(module, "learned", True))


def count_macs(module: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulate operations of one forward pass on a zero input of ``input_shape``.

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode`, which counts the FLOPs of
    convolutions (also transposed) and matrix products; MACs are FLOPs / 2.  Element-wise
    work (activations, normalisation, pooling, additions) is not counted, as is usual for
    MAC tables.  Classical filters (``learned = False``) return 0 without being run.

    Parameters
    ----------
    module : torch.nn.Module
        The model; run in eval mode (its mode is restored afterwards).
    input_shape : sequence of int
        Full input shape ``(B, C, *spatial)``.

    Returns
    -------
    int
    """
    if not _is_learned(module):
        return 0
    x = torch.zeros(tuple(input_shape))
    counter = FlopCounterMode(display=False)
    with _evaluating(module), torch.inference_mode(), counter:
        module(x)
    return counter.get_total_flops() // 2


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def time_inference(module: nn.Module, input_shape: Sequence[int], repeats: int = 5,
                   warmup: int = 2, threads: int = 2) -> dict[str, float]:
    """Wall-clock time of one forward pass, in eval mode under :func:`torch.inference_mode`.

    Parameters
    ----------
    module : torch.nn.Module
        The model (its training mode is restored afterwards).
    input_shape : sequence of int
        Full input shape ``(B, C, *spatial)``; the input is uniform noise in [0, 1).
    repeats : int
        Timed runs.
    warmup : int
        Untimed runs before them.
    threads : int
        ``torch.set_num_threads`` during the runs (restored afterwards).  Classical filters
        run in NumPy/SciPy, whose own threading this does not change.

    Returns
    -------
    dict
        ``median_ms`` and ``min_ms`` over the timed runs.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(tuple(input_shape), generator=generator)
    times: list[float] = []
    with _torch_threads(threads), _evaluating(module), torch.inference_mode():
        for _ in range(warmup):
            module(x)
        for _ in range(repeats):
            start = time.perf_counter()
            module(x)
            times.append((time.perf_counter() - start) * 1000.0)
    return {"median_ms": statistics.median(times), "min_ms": min(times)}


def _resident_bytes() -> int:
    """Current resident set size of this process, from ``/proc/self/statm``."""
    pages = int(_STATM.read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _high_water_bytes() -> int:
    """Peak resident set size since the last reset (``VmHWM`` of ``/proc/self/status``)."""
    match = re.search(r"^VmHWM:\s+(\d+)\s+kB", _STATUS.read_text(), re.M)
    if match is None:
        raise OSError("VmHWM missing from /proc/self/status")
    return int(match.group(1)) * 1024


def _reset_high_water() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False when not permitted."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _release_free_heap() -> None:
    """Give memory freed earlier back to the OS (glibc ``malloc_trim``) when possible.

    Otherwise memory the allocator kept from earlier work would be reused without raising
    the resident size, and the measured increase would be too small.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _RssSampler(threading.Thread):
    """Background thread recording the largest RSS seen every ``interval`` seconds."""

    def __init__(self, interval: float = 0.001) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = _resident_bytes()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, _resident_bytes())
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak, _resident_bytes())


def peak_memory_mb(fn: Callable[[], Any]) -> float:
    """Peak increase of the process's resident memory while ``fn()`` runs, in MiB.

    Method (Linux only: it reads ``/proc``): freed heap is first returned to the OS
    (``malloc_trim``), then the kernel's resident high-water mark ``VmHWM`` is reset through
    ``/proc/self/clear_refs`` and read back after ``fn``; the result is that peak minus the
    resident size before.
    This is exact and sees every allocation (PyTorch's CPU tensors, NumPy, SciPy), unlike
    :mod:`tracemalloc`, which only sees Python's allocator.  Where the reset is not
    permitted, a background thread samples ``/proc/self/statm`` every millisecond instead
    (peaks shorter than that may be missed).  Memory already held by the process before
    ``fn`` (weights, earlier caches) is not counted.

    Parameters
    ----------
    fn : callable
        Called once without arguments.

    Returns
    -------
    float
        Mebibytes (2**20 bytes); 0.0 when the resident size never rose.
    """
    _release_free_heap()
    if _reset_high_water():
        before = _resident_bytes()
        fn()
        peak = _high_water_bytes()
    else:
        sampler = _RssSampler()
        before = sampler.peak
        sampler.start()
        try:
            fn()
        finally:
            peak = sampler.stop()
    return max(peak - before, 0) / _MIB


def cost_row(name: str, module: nn.Module, shape: Sequence[int], *, repeats: int = 5,
             warmup: int = 2, threads: int = 2) -> dict[str, Any]:
    """One row of a cost table for ``module`` on inputs of ``shape``.

    Memory is measured first (one forward pass in eval mode under inference mode, with
    ``threads`` threads), then time (see :func:`time_inference`).

    Returns
    -------
    dict
        ``name``, ``params``, ``macs``, ``peak_memory_mb``, ``median_ms``, ``min_ms``,
        ``shape``.
    """
    x = torch.rand(tuple(shape), generator=torch.Generator().manual_seed(0))

    def forward() -> None:
        module(x)

    with _torch_threads(threads), _evaluating(module), torch.inference_mode():
        memory = peak_memory_mb(forward)
    return {
        "name": name,
        "shape": tuple(shape),
        "params": count_parameters(module),
        "macs": count_macs(module, shape),
        "peak_memory_mb": memory,
        **time_inference(module, shape, repeats=repeats, warmup=warmup, threads=threads),
    }
