"""decide/ stays pure: standard library (no clock, randomness, IO) plus domain/ only."""

from __future__ import annotations

import ast
from pathlib import Path

import quantum_trader.decide

DECIDE_DIR = Path(quantum_trader.decide.__file__).parent
ALLOWED_STDLIB = {
    "__future__",
    "collections",
    "dataclasses",
    "decimal",
    "enum",
    "hashlib",
    "typing",
}
ALLOWED_PACKAGES = ("quantum_trader.domain", "quantum_trader.decide")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_decide_imports_only_stdlib_allowlist_and_domain() -> None:
    files = sorted(DECIDE_DIR.glob("*.py"))
    assert len(files) > 10
    for path in files:
        for module in imported_modules(path):
            ok = module.split(".")[0] in ALLOWED_STDLIB or module.startswith(ALLOWED_PACKAGES)
            assert ok, f"{path.name} imports {module}"
