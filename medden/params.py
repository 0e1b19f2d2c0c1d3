"""Declared plugin parameters: read from ``__init__`` signatures and numpy docstrings.

A plugin declares its parameters the ordinary Python way: a typed ``__init__`` signature
with defaults, documented in the class docstring's numpy-style ``Parameters`` section.  This
module turns that into :class:`Parameter` records (for ``medden list NAME``) and converts
string values from a SPEC to the declared types.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from medden.spec import Spec, SpecError, parse_spec, split_top_level

__all__ = ["Parameter", "describe_parameters", "build_kwargs", "coerce"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NONE = {"none", "null"}


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of a plugin.

    Attributes
    ----------
    name : str
        Keyword name.
    type_name : str
        Readable type, e.g. ``float``, ``int | None``, ``Literal['a', 'b']``.
    default : Any
        Default value, or :data:`inspect.Parameter.empty` when required.
    help : str
        Description from the class docstring.
    """

    name: str
    type_name: str
    default: Any
    help: str

    @property
    def required(self) -> bool:
        """True when the parameter has no default."""
        return self.default is inspect.Parameter.empty


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - unresolvable hints fall back to raw strings
        return dict(getattr(cls.__init__, "__annotations__", {}))


def _type_name(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "any"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("medden.spec.", "")


def _docstring_help(cls: type) -> dict[str, str]:
    """Parameter descriptions of ``cls``: its numpy ``Parameters`` section over its bases'.

    A subclass documents only the parameters it adds or describes differently; the others
    keep the description of the nearest base class that has one.
    """
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        helps.update({k: v for k, v in _own_docstring_help(klass).items() if v})
    return helps


def _own_docstring_help(cls: type) -> dict[str, str]:
    """Parse the numpy ``Parameters`` section of the docstring written in ``cls`` itself."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    match = re.search(r"^Parameters\n-+\n(.*?)(?:^\w[\w ]*\n-+\n|\Z)", doc, re.S | re.M)
    if not match:
        return {}
    helps: dict[str, str] = {}
    current: list[str] = []  # names on the last "a, b : type" line share its description
    for line in match.group(1).splitlines():
        if line and not line.startswith(" "):
            current = [name.strip() for name in line.split(":")[0].split(",")]
            for name in current:
                helps.setdefault(name, "")
        elif line.strip():
            for name in current:
                helps[name] = (helps[name] + " " + line.strip()).strip()
    return helps


def _signature_params(cls: type) -> tuple[list[inspect.Parameter], bool]:
    signature = inspect.signature(cls.__init__)
    params = [p for p in signature.parameters.values() if p.name != "self"]
    accepts_extra = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    named = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    return named, accepts_extra


def describe_parameters(cls: type) -> list[Parameter]:
    """Parameters a plugin class declares, in signature order.

    Parameters
    ----------
    cls : type
        A plugin class.

    Returns
    -------
    list of Parameter
    """
    hints = _type_hints(cls)
    helps = _docstring_help(cls)
    named, _ = _signature_params(cls)
    return [
        Parameter(p.name, _type_name(hints.get(p.name, p.annotation)), p.default,
                  helps.get(p.name, ""))
        for p in named
    ]


def coerce(value: Any, annotation: Any, name: str = "value") -> Any:
    """Convert ``value`` (often a string from a SPEC) to ``annotation``.

    Supports ``bool``, ``int``, ``float``, ``str``, ``Literal``, unions with ``None``,
    ``list[X]`` / ``tuple[X, ...]`` (written ``[a|b]`` in a SPEC) and :class:`Spec`.

    Raises
    ------
    SpecError
        When the value cannot be converted; the message names the parameter.
    """
    if annotation is inspect.Parameter.empty or annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if isinstance(value, str) and value.strip().lower() in _NONE and type(None) in args:
            return None
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(value, option, name)
            except SpecError:
                continue
        raise SpecError(f"parameter '{name}': {value!r} fits none of {_type_name(annotation)}")
    if origin is Literal:
        for option in args:
            if value == option or (isinstance(value, str) and str(option) == value.strip()):
                return option
        raise SpecError(f"parameter '{name}' must be one of {list(args)}, got {value!r}")
    if origin in (list, tuple):
        items = value
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("[") and text.endswith("]"):
                text = text[1:-1]
            items = [t for t in split_top_level(text, "|") if t.strip()] if text else []
        if not isinstance(items, list | tuple):
            items = [items]
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(items) != len(args):
                raise SpecError(f"parameter '{name}' needs {len(args)} values, got {value!r}")
            return tuple(coerce(v, a, name) for v, a in zip(items, args, strict=True))
        item_type = args[0] if args else Any
        return origin(coerce(item, item_type, name) for item in items)
    if annotation is Spec:
        try:
            return parse_spec(value)
        except SpecError as exc:
            raise SpecError(f"parameter '{name}': {exc}") from exc
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise SpecError(f"parameter '{name}' must be true or false, got {value!r}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise SpecError(f"parameter '{name}' must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SpecError(
                f"parameter '{name}' must be {annotation.__name__}, got {value!r}"
            ) from None
        if annotation is int:
            if not number.is_integer():
                raise SpecError(f"parameter '{name}' must be a whole number, got {value!r}")
            return int(number)
        return number
    if annotation is str:
        if isinstance(value, str):
            return value
        raise SpecError(f"parameter '{name}' must be a string, got {value!r}")
    return value


def build_kwargs(cls: type, raw: dict[str, Any], where: str) -> dict[str, Any]:
    """Typed keyword arguments for ``cls`` from raw SPEC parameters.

    Unknown keys are passed through untouched when ``cls.__init__`` takes ``**kwargs``
    (wrappers forward them to the plugin they wrap); otherwise they are an error.

    Raises
    ------
    SpecError
        Unknown parameter, bad value or missing required parameter; the message says
        which and lists the valid parameters.
    """
    named, accepts_extra = _signature_params(cls)
    hints = _type_hints(cls)
    by_name = {p.name: p for p in named}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in by_name:
            annotation = hints.get(key, by_name[key].annotation)
            try:
                kwargs[key] = coerce(value, annotation, key)
            except SpecError as exc:
                raise SpecError(f"{where}: {exc}") from None
        elif accepts_extra:
            kwargs[key] = value
        else:
            valid = ", ".join(by_name) or "(none)"
            raise SpecError(f"{where} has no parameter '{key}'; valid parameters: {valid}")
    missing = [p.name for p in named if p.default is inspect.Parameter.empty and p.name
               not in kwargs]
    if missing:
        raise SpecError(f"{where} needs parameter(s): {', '.join(missing)}")
    return kwargs
