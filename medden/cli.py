"""The ``medden`` command: one sub-command per module in :mod:`medden.commands`.

Each command module defines ``register(subparsers)`` (adds its parser and sets
``func=run``) and ``run(args) -> int``.  Usage errors (bad SPEC, unknown plugin, bad value,
missing file) exit with status 2 and one clear line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TextIO

from medden import __version__
from medden.errors import UsageError
from medden.registry import PluginError, ShadowedPluginWarning
from medden.spec import SpecError

__all__ = ["main", "build_parser", "COMMANDS"]

#: Sub-command modules under ``medden.commands``, in ``--help`` order.
COMMANDS = ["list", "noise", "denoise", "evaluate", "demo", "train", "finetune", "adapt",
            "benchmark", "report", "bundle", "serve"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (imports only the command modules, not plugins)."""
    parser = argparse.ArgumentParser(
        prog="medden",
        description=(
            "Denoise medical images (DICOM, NIfTI, PNG/TIFF) with classical filters and "
            "trained networks; add noise, evaluate, train and benchmark. Plugins register "
            "noise models, models and pipelines through entry points."
        ),
    )
    parser.add_argument("--version", action="version", version=f"medden {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"medden.commands.{name}").register(subparsers)
    return parser


def _plugin_warnings_shown_as(prefix: str, show: Callable[..., None]) -> Callable[..., None]:
    """``warnings.showwarning`` printing a :class:`ShadowedPluginWarning` as one line
    ``PREFIX: warning: MESSAGE`` (no source location: it is about the installation, not
    about code); other warnings go to ``show``."""

    def showwarning(message: Warning | str, category: type[Warning], filename: str,
                    lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
        if issubclass(category, ShadowedPluginWarning):
            print(f"{prefix}: warning: {message}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    return showwarning


def _threads_wait_passively() -> None:
    """Let the OpenMP threads of torch's pool sleep while they wait, unless
    ``OMP_WAIT_POLICY`` is set: by default they spin, and on a machine shared with other jobs
    the spinning threads take the cores that their own team is waiting for (the X-ray
    bundle ran 2-3x slower on a loaded 2-core machine; docs/benchmarks.md).  Effective only
    when torch is not imported yet, as in the ``medden`` command."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``medden`` command; returns the exit status."""
    _threads_wait_passively()
    parser = build_parser()
    args = parser.parse_args(argv)
    prefix = f"medden {args.command}"
    with warnings.catch_warnings():
        warnings.showwarning = _plugin_warnings_shown_as(prefix, warnings.showwarning)
        try:
            return int(args.func(args) or 0)
        except (UsageError, SpecError, PluginError) as exc:
            print(f"{prefix}: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{prefix}: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
