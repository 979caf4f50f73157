"""``quantum chaos``: the stepped multi-process run (``ops.stepped``) with the seeded
faults of ``schedule`` carried out by the ``injector``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quantum_trader.config import Settings
from quantum_trader.ops.chaos.injector import Injector
from quantum_trader.ops.chaos.schedule import ChaosConfig, build_schedule
from quantum_trader.ops.stepped.checker import Evidence
from quantum_trader.ops.stepped.faults import FaultContext, Faults
from quantum_trader.ops.stepped.report import ChaosReport
from quantum_trader.ops.stepped.run import SteppedRun


@dataclass
class ChaosRun:
    config: ChaosConfig
    on_step: Callable[[int, int], None] = lambda done, total: None
    metrics_port: int = 0
    settings: Settings | None = None
    stepped: SteppedRun | None = field(default=None, init=False)

    @property
    def evidence(self) -> Evidence | None:
        return self.stepped.evidence if self.stepped is not None else None

    async def run(self) -> ChaosReport:
        cfg = self.config

        def faults(context: FaultContext) -> Faults:
            schedule = build_schedule(
                cfg.seed,
                context.traded_bars,
                cfg.symbols,
                cfg.kinds,
                cfg.per_kind,
                cfg.expensive_per_kind,
            )
            return Injector.for_run(context, schedule, cfg.kinds, cfg.seed)

        settings: dict[str, Any] = {
            "per_kind": cfg.per_kind,
            "expensive_per_kind": cfg.expensive_per_kind,
        }
        self.stepped = SteppedRun(
            cfg,
            faults=faults,
            fault_settings=settings,
            on_step=self.on_step,
            metrics_port=self.metrics_port,
            settings=self.settings,
        )
        return await self.stepped.run()
