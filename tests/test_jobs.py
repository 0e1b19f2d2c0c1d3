"""How many inputs a tree run works on at once (:mod:`medden.jobs`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

from medden.jobs import AUTO_LIMIT, SMALL, WORKER_THREADS, auto_jobs, in_worker, shared_threads


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
