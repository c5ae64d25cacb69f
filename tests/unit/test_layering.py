"""Dependency rules between modules (code-style.md section 4.1), checked from the imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# module (relative to servingops) -> imports it must not make
FORBIDDEN: dict[str, set[str]] = {
    "model": {"httpx", "click", "yaml", "jsonschema", "deepdiff", "servingops"},
    "normalize": {"httpx", "click", "yaml", "deepdiff", "asyncio"},
    "planner": {"httpx", "click", "yaml", "asyncio"},
    "planfile": {"httpx", "click", "yaml"},
    "preflight": {"httpx", "click", "yaml", "asyncio"},
    "render": {"httpx", "click", "yaml", "deepdiff", "asyncio"},
    "client": {"click", "servingops.model", "servingops.normalize", "servingops.planner"},
    "engine": {"click"},
    "applier": {"httpx", "click"},
}


def imports_of(path: Path, package: str) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
            elif node.module:
                found.add(node.module)
    return found


def module_files(name: str) -> list[Path]:
    target = SRC / "servingops" / name
    if target.is_dir():
        return sorted(target.rglob("*.py"))
    file = target.with_suffix(".py")
    return [file] if file.exists() else []


def violates(found: set[str], forbidden: set[str]) -> set[str]:
    return {m for m in found for f in forbidden if m == f or m.startswith(f + ".")}


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_module_respects_layering(name: str) -> None:
    for path in module_files(name):
        package = ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
        found = imports_of(path, package)
        if name == "model":
            found = {m for m in found if not m.startswith("servingops.model")}
        assert not violates(found, FORBIDDEN[name]), f"{path.name} imports {found}"


def test_emulator_imports_nothing_from_servingops() -> None:
    for path in sorted((SRC / "serving_emulator").rglob("*.py")):
        package = ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
        assert not violates(imports_of(path, package), {"servingops"}), path.name


def test_only_the_cli_prints() -> None:
    for path in sorted((SRC / "servingops").rglob("*.py")):
        if "cli" in path.relative_to(SRC / "servingops").parts:
            continue
        tree = ast.parse(path.read_text())
        calls = [
            n for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        ]  # fmt: skip
        assert not calls, f"{path} calls print()"
