"""How many inputs a tree run works on at once (:mod:`medden.jobs`)."""

from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from medden.jobs import (
    AUTO_LIMIT,
    SMALL,
    WORKER_THREADS,
    auto_jobs,
    in_worker,
    shared_threads,
    side_by_side,
)


def test_small_inputs_run_side_by_side_and_large_ones_alone():
    threads = torch.get_num_threads()
    assert auto_jobs([512 * 512] * 8) == max(1, min(threads, AUTO_LIMIT))
    assert auto_jobs([512 * 512]) == 1  # one input: all the threads for it
    assert auto_jobs([SMALL, 64]) == min(threads, AUTO_LIMIT, 2)
    assert auto_jobs([512 * 512] * 7 + [SMALL + 1]) == 1  # a volume: one at a time
    assert auto_jobs([]) == 1


def test_concurrent_jobs_share_the_threads_and_give_them_back():
    threads = torch.get_num_threads()
    with shared_threads(2):
        assert torch.get_num_threads() == max(1, threads // 2)
    assert torch.get_num_threads() == threads
    with shared_threads(1):
        assert torch.get_num_threads() == threads


def test_worker_threads_are_told_apart():
    assert not in_worker()
    with ThreadPoolExecutor(1, WORKER_THREADS) as pool:
        assert pool.submit(in_worker).result()
    with ThreadPoolExecutor(1, "other") as pool:
        assert not pool.submit(in_worker).result()


def test_only_trained_networks_without_a_thread_unsafe_stage_run_side_by_side():
    from torch import nn

    from medden.registry import model_registry

    class Unsafe(nn.Identity):
        thread_safe = False  # as BM3D's filter, whose library aborts under two threads

    network = model_registry.create("dncnn:depth=3")
    assert side_by_side(network, learned=True)
    assert side_by_side(torch.jit.script(nn.Conv2d(1, 1, 3)), learned=True)
    assert not side_by_side(nn.Sequential(network, Unsafe()), learned=True)
    assert not side_by_side(model_registry.create("median"), learned=False)


@pytest.mark.skipif(importlib.util.find_spec("bm3d") is None,
                    reason="the optional bm3d package is missing")
def test_bm3d_is_marked_not_thread_safe():
    from medden.registry import model_registry

    assert not model_registry.create("bm3d").thread_safe
    assert model_registry.create("median").thread_safe
