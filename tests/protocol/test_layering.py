"""Layering (STYLE.md): protocol and core are pure; no I/O modules, no outer layers.

Checked on the source with ``ast``, so an import inside a function, under
``if TYPE_CHECKING`` or through ``importlib`` counts as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "tertulia"

#: Standard modules that do I/O or concurrency: they belong to the front ends and store.
IO_MODULES = ("socket", "sqlite3", "asyncio", "threading", "selectors")
OUTER = ("tertulia.store", "tertulia.frontends", "tertulia.server")

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "tertulia.protocol": IO_MODULES + OUTER + ("tertulia.core",),
    "tertulia.core": IO_MODULES + OUTER,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Every module a source imports, absolute, including ``from x import sub`` as ``x.sub``."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
    return found


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    rules = next(rules for layer, rules in FORBIDDEN.items()
                 if module == layer or module.startswith(layer + "."))
    return sorted(
        name
        for name in imported_names(source, module, is_package)
        for banned in rules
        if name == banned or name.startswith(banned + ".")
    )


def layer_files(layer: str) -> list[Path]:
    return sorted((SRC / layer.replace(".", "/")).rglob("*.py"))


@pytest.mark.parametrize("layer", list(FORBIDDEN))
def test_layer_imports_nothing_forbidden(layer: str) -> None:
    """No module of protocol/ or core/ imports an I/O module or an outer layer."""
    files = layer_files(layer)
    assert len(files) >= 4, f"no sources found for {layer}: the test would prove nothing"
    bad = {}
    for path in files:
        found = violations(path.read_text(encoding="utf-8"), module_name(path),
                           path.name == "__init__.py")
        if found:
            bad[str(path.relative_to(SRC))] = found
    assert bad == {}


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import asyncio", "tertulia.core.hub"),
        ("import asyncio.streams", "tertulia.protocol.lines"),
        ("from socket import socket", "tertulia.core.session"),
        ("import sqlite3 as db", "tertulia.core.hub"),
        ("def f():\n    import threading", "tertulia.protocol.names"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import selectors",
         "tertulia.core.ports"),
        ("from tertulia.store.sqlite import SqliteStore", "tertulia.core.hub"),
        ("from tertulia import frontends", "tertulia.core.hub"),
        ("from tertulia.server import app", "tertulia.core.handlers.info"),
        ("from ..store import memory", "tertulia.core.hub"),
        ("from ...server.config import Config", "tertulia.core.handlers.info"),
        ("from tertulia.core.hub import Hub", "tertulia.protocol.commands"),
        ("from ..core import ports", "tertulia.protocol.commands"),
        ("import importlib\nimportlib.import_module('tertulia.store.memory')",
         "tertulia.core.hub"),
        ("__import__('socket')", "tertulia.protocol.lines"),
        ("from ..store import memory", "tertulia.core"),  # relative to a package __init__
    ],
)
def test_checker_catches_forbidden_imports(source: str, module: str) -> None:
    """The checker itself is not blind: each of these imports is reported."""
    is_package = module == "tertulia.core"
    assert violations(source, module, is_package) != []


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import json\nimport re\nimport unicodedata", "tertulia.protocol.commands"),
        ("from tertulia.protocol.names import fold", "tertulia.core.hub"),
        ("from tertulia.core.ports import Peer", "tertulia.core.session"),
        ("from . import ports", "tertulia.core.hub"),
        ("from .store import x", "tertulia.core"),  # tertulia.core.store, not the store layer
        ("import socketserver_like_name", "tertulia.core.hub"),
        ("from tertulia.storefront import x", "tertulia.core.hub"),
    ],
)
def test_checker_allows_pure_imports(source: str, module: str) -> None:
    """Standard pure modules, the protocol from core, and look-alike names pass."""
    assert violations(source, module, module == "tertulia.core") == []
