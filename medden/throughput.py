"""Throughput of one process of a run: images and pixels per second, and where time went.

Each process of ``medden noise`` / ``medden denoise`` (one per shard, see :mod:`medden.shard`)
records how many images it wrote, their pixels, its wall time and the seconds spent
reading, computing (normalising, the operation, restoring units) and writing.  With
``--jobs 1`` the three add up to about the wall time and their shares say which one bounds
the run; with several inputs in flight (:mod:`medden.jobs`) they overlap and are summed over
the threads, and the largest share is the bound.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Throughput", "STAGES"]

#: The stages timed for every image.
STAGES = ("read", "compute", "write")


@dataclass
class Throughput:
    """What one process did and how fast.

    Attributes
    ----------
    shard : str
        Which part of the work (``"I/N"``; ``"0/1"`` for a run in one process).
    images : int
        Inputs written.
    pixels : int
        Their pixels (per channel; voxels of volumes).
    seconds : float
        Wall time of the process's run, from scanning to its report.
    read, compute, write : float
        Seconds spent in each stage, summed over its inputs.
    """

    shard: str = "0/1"
    images: int = 0
    pixels: int = 0
    seconds: float = 0.0
    read: float = 0.0
    compute: float = 0.0
    write: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The record of ``report.json``: the fields (seconds rounded to ms), the rates
        ``images_per_second`` and ``pixels_per_second``, and each stage's ``share`` of the
        time in stages."""
        staged = sum(getattr(self, stage) for stage in STAGES)
        wall = max(self.seconds, 1e-9)
        record: dict[str, Any] = {**asdict(self), "seconds": round(self.seconds, 3)}
        record.update({stage: round(getattr(self, stage), 3) for stage in STAGES})
        record["images_per_second"] = round(self.images / wall, 3)
        record["pixels_per_second"] = round(self.pixels / wall, 1)
        record["share"] = {stage: round(getattr(self, stage) / staged, 3) if staged else 0.0
                           for stage in STAGES}
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Throughput:
        """The inverse of :meth:`to_dict` (rates and shares are recomputed)."""
        return cls(**{name: record[name] for name in
                      ("shard", "images", "pixels", "seconds", *STAGES)})

    def line(self) -> str:
        """One line for the printed summary, e.g. ``shard 0/2: 120 images in 30.1 s, 3.99/s,
        1.05 Mpx/s; read 12%, compute 80%, write 8%``."""
        record = self.to_dict()
        shares = ", ".join(f"{stage} {record['share'][stage]:.0%}" for stage in STAGES)
        return (f"shard {self.shard}: {self.images} images in {self.seconds:.1f} s, "
                f"{record['images_per_second']:.3g}/s, "
                f"{record['pixels_per_second'] / 1e6:.3g} Mpx/s; {shares}")
