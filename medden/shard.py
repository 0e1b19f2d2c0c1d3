"""Split a batch of work into shards: one per process of a distributed run or array job.

A shard is ``I/N``: the I-th (0-based) of N parts.  :func:`assign` gives every unit of work
(a DICOM series, a NIfTI file, a raster; an image of a benchmark) to one shard, balancing
their weights (pixel counts) rather than their number, and deterministically: every
process computes the same assignment from the same list, without talking to the others,
so N independent jobs (``--shard I/N``) and N ranks of ``torchrun`` split work alike.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from medden.errors import UsageError

__all__ = ["Shard", "assign"]

_SHARD = re.compile(r"^(\d+)/(\d+)$")


@dataclass(frozen=True)
class Shard:
    """The ``index``-th (0-based) of ``count`` parts of a batch.

    Attributes
    ----------
    index : int
        Which part, ``0 <= index < count``.
    count : int
        Into how many parts the batch is split.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise UsageError(f"shard {self.index}/{self.count}: the index must lie in "
                             f"0..{self.count - 1}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` as a shard (I from 0 to N-1, e.g. ``$SLURM_ARRAY_TASK_ID/N``).

        Raises
        ------
        UsageError
            When ``text`` is not of that form.
        """
        match = _SHARD.match(text.strip())
        if match is None:
            raise UsageError(f"--shard expects I/N (I from 0 to N-1), got '{text}'")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owned(self, weights: Sequence[int], groups: Sequence[Hashable] | None = None
              ) -> list[int]:
        """Indices of the units this shard does (see :func:`assign`), in order."""
        parts = assign(weights, self.count, groups)
        return [i for i, part in enumerate(parts) if part == self.index]


def assign(weights: Sequence[int], count: int, groups: Sequence[Hashable] | None = None
           ) -> list[int]:
    """The shard (0..count-1) of every unit, balancing the sums of their weights.

    Units with the same group key (e.g. the files of one DICOM series) go to one shard.
    Groups are placed heaviest first, each on the least loaded shard (longest processing
    time first: the largest shard is at most 4/3 of the optimum); ties are broken by the
    order of first appearance and the shard index, so the result depends only on the
    arguments.

    Parameters
    ----------
    weights : sequence of int
        The cost of each unit (pixels); zero or negative weights count as 1.
    count : int
        Number of shards.
    groups : sequence, optional
        A group key per unit; by default each unit is its own group.

    Returns
    -------
    list of int
        The shard of each unit.
    """
    keys = list(range(len(weights))) if groups is None else list(groups)
    totals: dict[Hashable, int] = {}
    for key, weight in zip(keys, weights, strict=True):
        totals[key] = totals.get(key, 0) + max(int(weight), 1)
    order = sorted(enumerate(totals.items()), key=lambda entry: (-entry[1][1], entry[0]))
    loads = [(0, shard) for shard in range(count)]
    placed: dict[Hashable, int] = {}
    for _, (key, total) in order:
        load, shard = heapq.heappop(loads)
        placed[key] = shard
        heapq.heappush(loads, (load + total, shard))
    return [placed[key] for key in keys]
