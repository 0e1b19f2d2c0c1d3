"""The denoisers compared by a benchmark: ``--models`` entries resolved to networks.

An entry is a registered model SPEC (``median:size=5``, ``bm3d``), a registered pipeline
SPEC (``two_stage``; a name is looked up among models first, then pipelines), a trained
bundle (folder or NAME, e.g. ``xray``) or a training checkpoint / run folder.  A learned
model given only as a SPEC has random weights: it is refused unless untrained networks are
allowed, and then it only enters the cost table (its image quality would mean nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from medden.ensemble import ENSEMBLE_SUFFIX, DihedralEnsemble
from medden.errors import UsageError
from medden.infer import Capabilities, run_fitting_channels
from medden.models import ClassicalDenoiser
from medden.registry import model_registry, pipeline_registry
from medden.spec import Spec, parse_spec, split_top_level

__all__ = ["Method", "split_model_entries", "resolve_method", "resolve_methods",
           "self_ensembled", "with_sigma"]


@dataclass
class Method:
    """One denoiser of the benchmark.

    Attributes
    ----------
    label : str
        Row label in the tables: the SPEC as given, or a name for a checkpoint path.
    network : nn.Module
        The denoiser (model or pipeline), in eval mode.
    learned : bool
        True for networks, False for classical filters.
    trained : bool
        False for a learned network built from a SPEC (random weights).
    spec : Spec or None
        The model SPEC when the entry is a registered classical model (for oracle tuning).
    channels : tuple of int or None
        The channel counts ``network`` takes (None: any); :meth:`denoise` fits other images to
        them as ``medden denoise`` does.
    """

    label: str
    network: nn.Module
    learned: bool
    trained: bool
    spec: Spec | None = None
    channels: tuple[int, ...] | None = None

    def denoise(self, batch: torch.Tensor) -> torch.Tensor:
        """The network on ``batch`` ``(N, C, *spatial)``, whatever its channel count
        (:func:`medden.infer.run_fitting_channels`)."""
        return run_fitting_channels(self.network, self.channels, batch)

    @property
    def scored(self) -> bool:
        """Whether image quality is measured (not for untrained networks)."""
        return self.trained or not self.learned

    @property
    def tunable(self) -> bool:
        """Whether the method is a classical filter declaring a tuning grid."""
        return (self.spec is not None and isinstance(self.network, ClassicalDenoiser)
                and bool(type(self.network).tuning_grid))


def with_sigma(method: Method) -> Callable[[float], nn.Module]:
    """A factory of ``method``'s classical filter given the noise sigma (0-255 scale).

    Used to give a filter such as BM3D the true standard deviation of the Gaussian noise
    (0-255 scale) instead of its own estimate.

    Raises
    ------
    UsageError
        When ``method`` is not a classical filter declaring a
        :attr:`~medden.models.ClassicalDenoiser.noise_sigma_parameter`.
    """
    spec = method.spec
    parameter = getattr(method.network, "noise_sigma_parameter", None)
    if spec is None or parameter is None:
        raise UsageError(f"--true-sigma: '{method.label}' is not a classical filter that "
                         "takes the noise sigma (bm3d, wavelet)")
    cache: dict[float, nn.Module] = {}

    def build(level: float) -> nn.Module:
        if level not in cache:
            cache[level] = model_registry.create(spec, **{parameter: float(level)}).eval()
        return cache[level]

    return build


def split_model_entries(values: Iterable[str]) -> list[str]:
    """Split ``--models`` values on top-level commas into entries.

    A comma also separates the parameters of one SPEC, so a piece of the form
    ``key=value`` with no ``:`` continues the previous entry:
    ``bilateral:sigma_color=40,sigma_spatial=2,median`` is two entries.
    """
    entries: list[str] = []
    for value in values:
        for piece in (p.strip() for p in split_top_level(value, ",")):
            if not piece:
                continue
            head = piece.split("=", 1)[0]
            if entries and "=" in piece and ":" not in head and "/" not in head:
                entries[-1] += "," + piece
            else:
                entries.append(piece)
    return entries


def _trained(entry: str, trust: bool = False) -> Method | None:
    """The trained network of a bundle folder or NAME, or of a checkpoint path; else None.

    Bundles and checkpoints are loaded as ``medden denoise`` loads them
    (:mod:`medden.denoisers`); the row label is theirs (``bundle xray_denoise 0.1.0``). Images
    of another channel count get the network as ``medden denoise`` gives it
    (:meth:`Method.denoise`).
    A NAME is a shipped or installed bundle, never a folder of the current directory; a
    bundle PATH whose configs are not medden's own needs ``trust``.
    """
    from medden.denoisers import find_bundle, is_bundle_name, load_bundle, load_trained_checkpoint

    path = Path(entry)
    bundle_folder = path.is_dir() and (path / "configs").is_dir()
    if bundle_folder and not is_bundle_name(entry):
        network = load_bundle(path, trust=trust)
    elif path.exists() and not bundle_folder:
        network = load_trained_checkpoint(path)
    else:
        try:
            find_bundle(entry)
        except UsageError:
            return None
        network = load_bundle(entry)
    capabilities = network.capabilities or Capabilities.of(network.network)
    return Method(network.label, network.network.eval(), True, True,
                  channels=capabilities.channels)


def resolve_method(entry: str, allow_untrained: bool = False, trust_bundles: bool = False
                   ) -> Method:
    """Build the :class:`Method` of one ``--models`` entry.

    An existing path is a bundle folder or a checkpoint; otherwise the entry is a model
    SPEC, then a pipeline SPEC, then a bundle NAME (looked up as ``medden denoise --bundle``
    does: a bare name is a shipped or installed bundle, not a folder of the current
    directory).  ``trust_bundles`` builds bundle PATHs whose configs are not medden's own
    (``--trust-bundle``).

    Raises
    ------
    UsageError
        When the entry is none of these, names a learned model by SPEC without
        ``allow_untrained``, or is an untrusted bundle PATH.
    """
    spec = None if Path(entry).exists() else parse_spec(entry)
    if spec is not None and spec.name in model_registry:
        network = model_registry.create(spec)
    elif spec is not None and spec.name in pipeline_registry:
        network = pipeline_registry.create(spec)
    else:
        trained = _trained(entry, trust_bundles)
        if trained is None:
            raise UsageError(
                f"--models: '{entry}' is not a registered model or pipeline (see 'medden "
                "list'), a bundle name, nor an existing bundle / checkpoint path"
            )
        return trained
    learned = bool(getattr(network, "learned", True))
    if learned and not allow_untrained:
        raise UsageError(
            f"--models: '{entry}' is a learned network and a SPEC carries no trained weights; "
            "give a trained bundle or checkpoint, or add --allow-untrained to include it "
            "in the cost table only"
        )
    classical = spec if spec.name in model_registry and not learned else None
    return Method(entry, network.eval(), learned, not learned, classical)


def self_ensembled(method: Method) -> Method:
    """``method`` averaged over the 8 flips and quarter turns of the image (its weights shared).

    The label gains :data:`~medden.ensemble.ENSEMBLE_SUFFIX`.
    """
    return Method(method.label + ENSEMBLE_SUFFIX, DihedralEnsemble(method.network).eval(),
                  method.learned, method.trained, channels=method.channels)


def resolve_methods(entries: Iterable[str], allow_untrained: bool = False,
                    trust_bundles: bool = False) -> list[Method]:
    """Resolve every entry; labels must be unique.

    Raises
    ------
    UsageError
        On an unusable entry, a repeated label, or no entry at all.
    """
    methods = [resolve_method(e, allow_untrained, trust_bundles) for e in entries]
    if not methods:
        raise UsageError("--models: give at least one model")
    labels = [m.label for m in methods]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise UsageError(f"--models: '{repeated[0]}' is given more than once")
    return methods
