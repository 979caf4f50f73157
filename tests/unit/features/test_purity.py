"""The features package is pure: it imports market data types, numpy, numba (which
compiles its loops) and the standard library — no services, exchange clients, backtester,
strategies, clocks or randomness."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import quantum_trader.features

PACKAGE = Path(quantum_trader.features.__file__).parent
ALLOWED_PROJECT = ("quantum_trader.data", "quantum_trader.domain", "quantum_trader.features")
BANNED_STDLIB = {"time", "datetime", "random", "uuid", "asyncio", "socket", "os", "subprocess"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_features_import_only_data_domain_numpy_and_the_standard_library() -> None:
    wrong: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        for module in sorted(imports(path)):
            top = module.split(".")[0]
            if module.startswith("quantum_trader"):
                ok = module.startswith(ALLOWED_PROJECT)
            else:
                ok = top in ("numpy", "numba") or (
                    top in sys.stdlib_module_names and top not in BANNED_STDLIB
                )
            if not ok:
                wrong.setdefault(path.name, []).append(module)
    assert wrong == {}


def test_files_stay_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert max(sizes.values()) < 300, sizes
