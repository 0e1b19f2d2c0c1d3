"""``medden list``: show registered noise models, models and pipelines."""

from __future__ import annotations

import argparse
import inspect

from medden.errors import UsageError
from medden.registry import Entry, Registry, registries
from medden.spec import Spec


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``list`` sub-command."""
    parser = subparsers.add_parser(
        "list",
        help="list registered noise models, models and pipelines",
        description=(
            "List the plugins installed in the three registries with their distribution and a "
            "one-line summary; broken plugins are shown with the reason, and a third-party "
            "plugin whose name medden itself registers as shadowed, with the qualified name "
            "(DISTRIBUTION.name) that reaches it. With NAME, print the plugin's parameters "
            "(type, default, help), for every distribution registering NAME."
        ),
    )
    parser.add_argument("kind", nargs="?", choices=sorted(registries), help="one registry only")
    parser.add_argument("name", nargs="?", help="a plugin name: show its parameters")
    parser.set_defaults(func=run)


def _format_default(default: object) -> str:
    if default is inspect.Parameter.empty:
        return "(required)"
    return str(default) if isinstance(default, Spec) else repr(default)


def _rows(registry: Registry) -> list[tuple[str, Entry]]:
    """``(shown name, entry)``: every name's entry, then those it shadows, qualified."""
    rows = []
    for name in registry:
        winner, *others = registry.candidates(name)
        rows.append((name, winner))
        rows += [(entry.qualified_name, entry) for entry in others if entry.shadowed_by]
    return rows


def _state(registry: Registry, shown: str, entry: Entry) -> str:
    """The marker and detail of one row (or of one plugin's header)."""
    state, detail = registry.status(shown)
    if entry.shadowed_by and state == "ok":
        state, detail = "shadowed", (f"by {entry.shadowed_by}'s '{entry.name}', reach it as "
                                     f"'{entry.qualified_name}': {detail}")
    return ("" if state == "ok" else f"[{state.upper()}] ") + detail


def _print_registry(registry: Registry) -> None:
    rows = _rows(registry)
    print(f"{registry.kind} ({len(registry.names())})")
    if not rows:
        print("  (none installed)")
    width = max((len(shown) for shown, _ in rows), default=0)
    dist_width = max((len(entry.distribution) for _, entry in rows), default=0)
    for shown, entry in rows:
        print(f"  {shown:<{width}}  {entry.distribution:<{dist_width}}  "
              f"{_state(registry, shown, entry)}")


def _print_parameters(registry: Registry, entry: Entry) -> None:
    shown = entry.reference
    print(f"{shown} ({registry.kind}, from distribution '{entry.distribution}', "
          f"{entry.target})")
    state, detail = registry.status(shown)
    if state != "ok":
        print(f"  {state.upper()}: {detail}")
        return
    if entry.shadowed_by:
        print(f"  SHADOWED by {entry.shadowed_by}'s '{entry.name}': reach it as '{shown}'")
    print(f"  {detail}")
    parameters = registry.parameters(shown)
    if not parameters:
        print("  parameters: none")
        return
    print("  parameters:")
    for p in parameters:
        print(f"    {p.name}: {p.type_name} = {_format_default(p.default)}")
        if p.help:
            print(f"        {p.help}")


def _named(registry: Registry, name: str) -> list[Entry]:
    """The entries ``name`` designates: one for a qualified name, else all that share it."""
    return [registry.entry(name)] if "." in name else registry.candidates(name)


def run(args: argparse.Namespace) -> int:
    """List plugins, or show one plugin's parameters."""
    if args.name:
        kinds = [args.kind] if args.kind else list(registries)
        found = [registries[k] for k in kinds if args.name in registries[k]]
        if not found:
            raise UsageError(f"no plugin named '{args.name}' in {', '.join(kinds)}")
        for registry in found:
            for entry in _named(registry, args.name):
                _print_parameters(registry, entry)
        return 0
    for kind in [args.kind] if args.kind else list(registries):
        _print_registry(registries[kind])
    return 0
