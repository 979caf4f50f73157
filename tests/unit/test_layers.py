"""The layers: each package of ``quantum_trader`` imports only packages of lower layers
(and itself), so there is no import cycle between packages and nothing low reaches up —
the decisions never import a service, the services never import a run, and nothing but
the command line imports the command line. The README's layout lists the same order."""

from __future__ import annotations

import ast
from pathlib import Path

import quantum_trader

ROOT = Path(quantum_trader.__file__).parent
LAYERS = (
    "__init__",
    "clock",
    "domain",
    "decide",
    "data",
    "features",
    "model",
    "strategies",
    "operator_settings",
    "config",
    "exchange",
    "bus",
    "services",
    "backtest",
    "research",
    "infra",
    "runtime",
    "bootstrap",
    "observability",
    "alerting",
    "dashboard",
    "ops",
    "cli",
)


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "quantum_trader" and len(parts) > 1:
                found.add(
                    parts[1]
                    if (ROOT / parts[1]).exists() or (ROOT / f"{parts[1]}.py").exists()
                    else "__init__"
                )
    return found


def test_every_package_is_in_a_layer() -> None:
    packages = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()}
    packages = {p for p in packages if not p.startswith(("_", ".")) and p != "py"} - {"__pycache__"}
    assert packages <= set(LAYERS), sorted(packages - set(LAYERS))


def test_no_package_imports_a_higher_layer() -> None:
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        own = relative.parts[0].removesuffix(".py")
        for target in imported_packages(path) - {own}:
            if rank[target] > rank[own]:
                upward.append(f"{relative} imports {target}")
    assert not upward, "\n".join(upward)
