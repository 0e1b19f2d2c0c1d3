"""The core never imports a plugin package: plugins reach it only through entry points."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "medden"


def plugin_packages() -> set[str]:
    """Top-level modules of every plugin: first-party, entry-point targets, the example."""
    packages = {p.name for p in (REPO / "plugins").iterdir() if (p / "__init__.py").is_file()}
    packages |= {p.name for p in REPO.glob("docs/examples/*/src/*") if p.is_dir()
                 and (p / "__init__.py").is_file()}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for entries in project.get("entry-points", {}).values():
        packages |= {target.split(":")[0].split(".")[0] for target in entries.values()}
    return packages


def _top(module: str) -> str:
    return module.split(".")[0]


def plugin_imports(source: str, forbidden: set[str]) -> list[tuple[int, str]]:
    """``(line, module)`` for every import of a ``forbidden`` top-level package in ``source``.

    Covers ``import x``, ``from x import y`` and ``importlib.import_module("x...")`` /
    ``__import__("x...")`` with a literal name.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            literal = node.args[0]
            if called in ("import_module", "__import__") and isinstance(literal, ast.Constant) \
                    and isinstance(literal.value, str):
                names = [literal.value]
        found += [(node.lineno, name) for name in names if _top(name) in forbidden]
    return found


def test_the_plugin_list_is_complete():
    packages = plugin_packages()
    assert {"medden_noise", "medden_classic", "medden_pipelines"} <= packages
    assert "medden_plugin_example" in packages
    assert "medden" not in packages


@pytest.mark.parametrize("source", [
    "import medden_noise",
    "import os, medden_classic.filters as f",
    "from medden_noise.additive import GaussianNoise",
    "def f():\n    from medden_skidnet import shallow",
    "import importlib\nimportlib.import_module('medden_unet.n2n')",
    "__import__('medden_plugin_example')",
])
def test_the_check_sees_every_kind_of_import(source):
    assert plugin_imports(source, plugin_packages())


def test_the_check_allows_core_and_library_imports():
    source = ("import torch\nfrom medden.registry import model_registry\n"
              "from . import spec\nimport importlib\nimportlib.import_module(name)\n")
    assert plugin_imports(source, plugin_packages()) == []


def test_no_core_module_imports_a_plugin():
    forbidden = plugin_packages()
    offenders = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in sorted(CORE.rglob("*.py"))
        for line, module in plugin_imports(path.read_text(), forbidden)
    ]
    assert sorted(CORE.rglob("*.py")), "no core sources found"
    assert offenders == [], "the core must reach plugins only through the registries"
