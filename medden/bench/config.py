"""What a benchmark run is asked to do (the options of ``medden benchmark``)."""

from __future__ import annotations

import shlex
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from medden.errors import UsageError
from medden.shard import Shard

__all__ = ["PARTS", "BenchmarkConfig", "default"]

#: Parts of the benchmark that ``--skip`` can leave out.
PARTS = ("oracle", "ablation", "curves", "cost", "figures")


@dataclass
class BenchmarkConfig:
    """Options of one benchmark run.

    Attributes
    ----------
    data : Path
        Folder of clean images.
    models : list of str
        ``--models`` entries (SPECs or checkpoint/bundle paths).
    noises : list of str
        Noise SPECs.
    levels : list of float
        Noise levels on the 0-255 scale.
    out : Path
        Output folder.
    seed : int
        Noise seed.
    modality : str or None
        Forced intensity modality.
    max_images : int or None
        Use only the first files of ``data``.
    crop : int or None
        Centre crop of every image, in pixels.
    slices : int
        Slices taken from each volume.
    skip : set of str
        Parts left out (see :data:`PARTS`).
    oracle_models : list of str or None
        ``--models`` entries to oracle-tune; None tunes every classical filter with a
        tuning grid.
    oracle_noises : list of str or None
        ``--noise`` SPECs under which the oracle runs; None runs it under every noise.
    true_sigma : list of str
        ``--models`` entries (classical filters that take the noise sigma: bm3d, wavelet) that also
        get a row given the true sigma of each Gaussian condition.
    curve_noises : list of str or None
        ``--noise`` SPECs drawn as validity-range curves; None draws every noise that has
        a level.
    curve_images : int
        Images per modality in the validity-range curves.
    figure_crop : int
        Crop edge in the qualitative figures.
    cost_repeats : int
        Timed runs per model in the cost table (after one warm-up run).
    trust_bundles : bool
        Build ``--models`` bundle PATHs whose configs are not medden's own with MONAI's
        parser (``--trust-bundle``; :mod:`medden.bundle_trust`).
    allow_untrained : bool
        Admit learned models given by SPEC (random weights) to the cost table.
    self_ensemble : bool
        Add a row per trained network averaged over the 8 flips and quarter turns of the
        image (:class:`~medden.ensemble.DihedralEnsemble`).
    workers : int
        Processes scoring the images of the quality tables in parallel.
    shard : Shard, optional
        Score only this part of the images (``--shard I/N``, :mod:`medden.shard`), for
        ``medden report benchmark``; curves, cost and figures are left out.
    progress : bool
        Progress bars and the time estimate.
    """

    data: Path
    models: list[str]
    noises: list[str]
    levels: list[float]
    out: Path
    seed: int = 0
    modality: str | None = None
    max_images: int | None = None
    crop: int | None = None
    slices: int = 1
    skip: set[str] = field(default_factory=set)
    oracle_models: list[str] | None = None
    oracle_noises: list[str] | None = None
    true_sigma: list[str] = field(default_factory=list)
    curve_noises: list[str] | None = None
    curve_images: int = 2
    figure_crop: int = 160
    cost_repeats: int = 5
    allow_untrained: bool = False
    trust_bundles: bool = False
    self_ensemble: bool = False
    workers: int = 1
    shard: Shard | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(self.skip - set(PARTS))
        if unknown:
            raise UsageError(f"--skip: unknown part '{unknown[0]}'; parts: {', '.join(PARTS)}")
        positive = {"--max-images": self.max_images, "--crop": self.crop,
                    "--slices": self.slices, "--curve-images": self.curve_images,
                    "--figure-crop": self.figure_crop, "--cost-repeats": self.cost_repeats,
                    "--workers": self.workers}
        for option, value in positive.items():
            if value is not None and value < 1:
                raise UsageError(f"{option} must be at least 1, got {value}")
        if not self.noises:
            raise UsageError("--noise: give at least one noise SPEC")
        if len(set(self.noises)) != len(self.noises):
            raise UsageError("--noise: a noise SPEC is given more than once")
        for option, chosen, given in (("--oracle-models", self.oracle_models, self.models),
                                      ("--oracle-noise", self.oracle_noises, self.noises),
                                      ("--true-sigma", self.true_sigma, self.models),
                                      ("--curve-noise", self.curve_noises, self.noises)):
            stray = [c for c in chosen or [] if c not in given]
            if stray:
                raise UsageError(f"{option}: '{stray[0]}' is not one of {', '.join(given)}")

    def runs(self, part: str) -> bool:
        """Whether ``part`` is run."""
        return part not in self.skip

    def tunes_under(self, noise: str) -> bool:
        """Whether the oracle runs under the ``--noise`` SPEC ``noise``."""
        return self.oracle_noises is None or noise in self.oracle_noises

    def command_line(self) -> str:
        """The ``medden benchmark`` command reproducing this run."""
        words = ["medden", "benchmark", "--data", str(self.data),
                 "--models", ",".join(self.models), "--noise", *self.noises,
                 "--levels", ",".join(f"{v:g}" for v in self.levels),
                 "--seed", str(self.seed), "--out", str(self.out)]
        optional = {"--modality": self.modality, "--max-images": self.max_images,
                    "--crop": self.crop}
        words += [w for k, v in optional.items() if v is not None for w in (k, str(v))]
        for name in ("slices", "curve_images", "figure_crop", "cost_repeats", "workers"):
            value = getattr(self, name)
            if value != default(name):
                words += ["--" + name.replace("_", "-"), str(value)]
        if self.skip:
            words += ["--skip", ",".join(p for p in PARTS if p in self.skip)]
        if self.oracle_models is not None:
            words += ["--oracle-models", ",".join(self.oracle_models)]
        if self.oracle_noises is not None:
            words += ["--oracle-noise", *self.oracle_noises]
        if self.true_sigma:
            words += ["--true-sigma", ",".join(self.true_sigma)]
        if self.curve_noises is not None:
            words += ["--curve-noise", *self.curve_noises]
        if self.allow_untrained:
            words.append("--allow-untrained")
        if self.trust_bundles:
            words.append("--trust-bundle")
        if self.shard is not None:
            words += ["--shard", str(self.shard)]
        return shlex.join(words)


def default(name: str) -> object:
    """Default value of the :class:`BenchmarkConfig` field ``name`` (for the CLI's help)."""
    found = {f.name: f for f in fields(BenchmarkConfig)}[name]
    return found.default if found.default is not MISSING else found.default_factory()
