"""``medden list``: show registered noise models, models and pipelines."""

from __future__ import annotations

import argparse
import inspect

from medden.errors import UsageError
from medden.registry import Registry, registries
from medden.spec import Spec


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``list`` sub-command."""
    parser = subparsers.add_parser(
        "list",
        help="list registered noise models, models and pipelines",
        description=(
            "List the plugins installed in the three registries with their distribution and a "
            "one-line summary; broken plugins are shown with the reason. With NAME, print the "
            "plugin's parameters (type, default, help)."
        ),
    )
    parser.add_argument("kind", nargs="?", choices=sorted(registries), help="one registry only")
    parser.add_argument("name", nargs="?", help="a plugin name: show its parameters")
    parser.set_defaults(func=run)


def _format_default(default: object) -> str:
    if default is inspect.Parameter.empty:
        return "(required)"
    return str(default) if isinstance(default, Spec) else repr(default)


def _print_registry(registry: Registry) -> None:
    entries = registry.entries()
    print(f"{registry.kind} ({len(entries)})")
    if not entries:
        print("  (none installed)")
    width = max((len(n) for n in entries), default=0)
    for name, entry in entries.items():
        state, detail = registry.status(name)
        marker = "" if state == "ok" else f"[{state.upper()}] "
        print(f"  {name:<{width}}  {entry.distribution:<12} {marker}{detail}")


def _print_parameters(registry: Registry, name: str) -> None:
    entry = registry.entry(name)
    state, detail = registry.status(name)
    print(f"{name} ({registry.kind}, from distribution '{entry.distribution}', {entry.target})")
    if state != "ok":
        print(f"  {state.upper()}: {detail}")
        return
    print(f"  {detail}")
    parameters = registry.parameters(name)
    if not parameters:
        print("  parameters: none")
        return
    print("  parameters:")
    for p in parameters:
        print(f"    {p.name}: {p.type_name} = {_format_default(p.default)}")
        if p.help:
            print(f"        {p.help}")


def run(args: argparse.Namespace) -> int:
    """List plugins, or show one plugin's parameters."""
    if args.name:
        kinds = [args.kind] if args.kind else list(registries)
        found = [registries[k] for k in kinds if args.name in registries[k]]
        if not found:
            raise UsageError(f"no plugin named '{args.name}' in {', '.join(kinds)}")
        for registry in found:
            _print_parameters(registry, args.name)
        return 0
    for kind in [args.kind] if args.kind else list(registries):
        _print_registry(registries[kind])
    return 0
