"""Which bundle folders medden builds a network from without being told to trust them.

A MONAI config is a program: MONAI's parser evaluates every ``"$..."`` string as Python and
calls any ``_target_``.  medden therefore never hands a bundle folder's configs to that
parser unless the bundle is trusted (docs/bundles.md, "Threat model"):

* a bundle NAME (``ct``, ``xray``, ...) resolves only to a shipped or installed bundle
  (:func:`medden.denoisers.bundle_search_path`), never to a folder of the current
  directory; those are trusted;
* a bundle PATH is built when its ``configs/inference.json`` is exactly what medden's bundle
  writer makes (:func:`medden.bundle.inference_config`): the configs of the shipped bundles
  and of every bundle ``medden bundle`` and ``medden adapt`` write.  Such a config declares
  its network as data -- a pipeline SPEC of registered plugins, the plugin distributions it
  needs and an intensity modality -- and medden builds it from those values itself, without
  MONAI's parser, so nothing of the folder is run.  Its weights are read with
  ``torch.load(..., weights_only=True)``, which runs no code either;
* any other bundle PATH runs only with ``--trust-bundle``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medden.errors import UsageError

__all__ = ["DeclaredNetwork", "declared_network", "untrusted_error"]

#: First characters MONAI's config parser gives a meaning to (expression, reference, macro).
_SIGILS = ("$", "@", "%")

#: Run settings of ``inference.json`` a user may change (``monai.bundle run`` passes them to
#: medden), with the types their values must have; older medden wrote other defaults (``tile``
#: 512 before 1024).
_SETTINGS: dict[str, tuple[type, ...]] = {"device": (str,), "tile": (int,),
                                          "self_ensemble": (bool,), "strength": (int, float)}


@dataclass(frozen=True)
class DeclaredNetwork:
    """The network a medden-written bundle declares, as data.

    Attributes
    ----------
    spec : str
        The pipeline SPEC of ``network_def``.
    modality : str or None
        The bundle's intensity convention (``modality`` of ``inference.json``).
    plugins : dict
        Third-party plugin distributions (name to version) the SPEC needs.
    """

    spec: str
    modality: str | None
    plugins: dict[str, str] = field(default_factory=dict)


def _plain(value: Any) -> bool:
    """A string MONAI's parser leaves as it is."""
    return isinstance(value, str) and not value.startswith(_SIGILS)


def _setting(value: Any, types: tuple[type, ...]) -> bool:
    """A run setting of one of ``types`` that MONAI's parser leaves as it is (no bool for a
    number: ``True`` is an ``int`` to Python)."""
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types) and (not isinstance(value, str) or _plain(value))


def declared_network(folder: Path) -> DeclaredNetwork | None:
    """The network of ``folder`` when its ``configs/inference.json`` is medden's own.

    Parameters
    ----------
    folder : Path
        A bundle folder.

    Returns
    -------
    DeclaredNetwork or None
        None when the config cannot be read, or differs in anything from the config
        :func:`medden.bundle.inference_config` makes for the SPEC, modality and plugins it
        declares (so it holds no expression or ``_target_`` but medden's own) but the values
        of its run settings (``device``, ``tile``, ``self_ensemble``, ``strength``: plain
        values of their types).
    """
    from medden.bundle import inference_config
    from medden.intensity import MODALITIES

    try:
        config = json.loads((folder / "configs" / "inference.json").read_text())
        network = config["network_def"]
        spec, plugins = network["spec"], network.get("plugins") or {}
        modality = config.get("modality")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    if not _plain(spec) or not isinstance(plugins, dict) \
            or not all(_plain(k) and _plain(v) for k, v in plugins.items()):
        return None
    if modality is not None and modality not in MODALITIES:
        return None
    expected = inference_config(spec, modality, plugins)
    if not all(_setting(config[key], types) for key, types in _SETTINGS.items() if key in config):
        return None
    if {**config, **{key: expected[key] for key in _SETTINGS}} != expected:
        return None
    return DeclaredNetwork(spec, modality, dict(plugins))


def untrusted_error(folder: Path, hint: str | None = None) -> UsageError:
    """The error for a bundle PATH that is neither medden's own nor trusted: why, and how
    (``hint``, by default: pass ``--trust-bundle`` if you trust it)."""
    how = hint or ("Run it only if you trust where it came from, with --trust-bundle")
    return UsageError(
        f"bundle '{folder}' is not one of medden's known bundles: its configs/inference.json "
        "is not the config medden writes (a pipeline SPEC of registered plugins), and MONAI "
        f"would run the Python its configs contain ('$' expressions, '_target_'). {how} "
        "(see docs/bundles.md, 'Threat model')"
    )
