"""SPEC strings: how a plugin and its parameters are named on the command line.

A SPEC is ``name`` or ``name:key=value,key=value``, for example ``gaussian:sigma=25`` or
``masked:noise=speckle,sigma=25``.  Values stay strings here; the registry converts them to
the types the plugin declares.  A value may itself be a SPEC with parameters when wrapped in
parentheses, and a list is written with ``|`` inside brackets::

    masked:noise=(gaussian:sigma=50),mask_sigma=40
    random_choice:noises=[gaussian:sigma=25|(speckle:sigma=20)|salt_pepper]

Nested specs can also be given as JSON/YAML mappings ``{"name": ..., "params": {...}}``.
A name may be qualified by the distribution that registers it, ``acme_medden.gaussian``,
to reach one distribution's entry when several register the name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Spec", "SpecError", "parse_spec", "load_spec_file", "split_top_level"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: A plugin name, optionally qualified by its distribution: ``gaussian``, ``acme_medden.gaussian``.
_PLUGIN = re.compile(r"^(?:[a-z0-9][a-z0-9_.-]*\.)?[a-z][a-z0-9_]*$")
_OPEN = {"(": ")", "[": "]"}


class SpecError(ValueError):
    """A SPEC is malformed, names nothing registered, or gives a bad parameter."""


@dataclass(frozen=True)
class Spec:
    """A plugin name with raw (string or already typed) parameters.

    Attributes
    ----------
    name : str
        Registry key of the plugin, or ``DISTRIBUTION.name`` for the entry of one
        distribution (see :mod:`medden.registry`).
    params : dict
        Parameter values: strings from the short form, or typed values / nested specs
        from a JSON or YAML spec file.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={_format(v)}" for k, v in self.params.items())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"name": ..., "params": {...}}`` form."""
        return {"name": self.name, "params": {k: _plain(v) for k, v in self.params.items()}}


def _format(value: Any) -> str:
    if isinstance(value, dict) and "name" in value:  # a nested SPEC mapping
        value = parse_spec(value)
    if isinstance(value, Spec):
        return f"({value})" if value.params else value.name
    if isinstance(value, list | tuple):
        return "[" + "|".join(_format(v) for v in value) + "]"
    text = str(value)
    if isinstance(value, str) and any(c in text for c in ",:|") and not text.startswith("["):
        return f"({text})"  # a nested SPEC kept as a string
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, Spec):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def split_top_level(text: str, separator: str) -> list[str]:
    """Split ``text`` on ``separator`` where it is not inside ``()`` or ``[]``.

    Raises
    ------
    SpecError
        When brackets are unbalanced.
    """
    parts, depth_stack, current = [], [], []
    for char in text:
        if char in _OPEN:
            depth_stack.append(_OPEN[char])
        elif char in _OPEN.values():
            if not depth_stack or depth_stack.pop() != char:
                raise SpecError(f"unbalanced '{char}' in '{text}'")
        if char == separator and not depth_stack:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth_stack:
        raise SpecError(f"unclosed bracket in '{text}'")
    parts.append("".join(current))
    return parts


def _wrapped(value: str) -> bool:
    """True when ``value`` is one parenthesised group: ``(a)``, not ``(a)|(b)``."""
    if not (value.startswith("(") and value.endswith(")")):
        return False
    depth = 0
    for index, char in enumerate(value):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return index == len(value) - 1
    return False


def _strip_parens(value: str) -> str:
    value = value.strip()
    while _wrapped(value):
        value = value[1:-1].strip()
    return value


def _parse_string(text: str) -> Spec:
    text = _strip_parens(text)
    if not text:
        raise SpecError("empty SPEC; expected 'name' or 'name:key=value,...'")
    name, _, rest = text.partition(":")
    name = name.strip()
    if not _PLUGIN.match(name):
        raise SpecError(
            f"bad plugin name '{name}' in SPEC '{text}': use lower_snake_case, "
            "e.g. 'gaussian:sigma=25', or DISTRIBUTION.name, e.g. 'acme_medden.gaussian'"
        )
    params: dict[str, Any] = {}
    if rest.strip():
        for item in split_top_level(rest, ","):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not _NAME.match(key):
                raise SpecError(f"bad parameter '{item}' in SPEC '{text}': expected key=value")
            if key in params:
                raise SpecError(f"parameter '{key}' given twice in SPEC '{text}'")
            params[key] = _strip_parens(value)
    return Spec(name, params)


def parse_spec(spec: str | Spec | dict[str, Any]) -> Spec:
    """Turn a SPEC string, mapping or :class:`Spec` into a :class:`Spec`.

    Raises
    ------
    SpecError
        When the SPEC is malformed.
    """
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, str):
        return _parse_string(spec)
    if isinstance(spec, dict):
        unknown = set(spec) - {"name", "params"}
        if "name" not in spec or unknown:
            raise SpecError(
                f"a SPEC mapping needs 'name' and optional 'params', got keys {sorted(spec)}"
            )
        params = spec.get("params") or {}
        if not isinstance(params, dict):
            raise SpecError(f"'params' of SPEC '{spec['name']}' must be a mapping")
        base = _parse_string(str(spec["name"]))
        return Spec(base.name, {**base.params, **params})
    raise SpecError(f"cannot read a SPEC from {type(spec).__name__}")


def load_spec_file(path: str | Path) -> Spec:
    """Read a SPEC from a JSON or YAML file.

    Raises
    ------
    SpecError
        When the file cannot be read or does not hold a SPEC.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"cannot read spec file '{path}': {exc.strerror}") from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - report any parser error as a SpecError
        raise SpecError(f"spec file '{path}' is not valid JSON/YAML: {exc}") from exc
    return parse_spec(data)
