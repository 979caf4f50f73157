"""Builds every service of the system for one exchange, bus and clock (the composition
root's service list; ``bootstrap.system_parts`` fills it from the settings): the same
constructors serve paper, demo and live; only the exchange and the clock passed in
differ. Every runtime gets the configured heartbeat and every consumer the configured
bus knobs here, in one place."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig
from quantum_trader.bus.idempotency import RedisEffectStore
from quantum_trader.bus.identity import consumer_name
from quantum_trader.clock import Clock
from quantum_trader.config import Settings
from quantum_trader.decide.entry_gates import ApplyConfig, GateLimits
from quantum_trader.decide.exit_brain import ExitConfig
from quantum_trader.decide.order_requests import panic_exit
from quantum_trader.domain.instruments import Instrument
from quantum_trader.exchange.interface import Exchange
from quantum_trader.operator_settings import ShardingSettings
from quantum_trader.runtime.circuit_breaker import CircuitBreaker, build_circuit_breaker
from quantum_trader.runtime.safety_state import SafetyStore
from quantum_trader.runtime.supervisor import ServiceSpec
from quantum_trader.services.apply_layer import ApplyLayer
from quantum_trader.services.apply_service import build_apply_layer, build_apply_service
from quantum_trader.services.execution_pump import ExecutionPump
from quantum_trader.services.exit_brain import ExitBrain, build_exit_brain_service
from quantum_trader.services.intent_bridge import IntentBridgeConfig, build_intent_bridge
from quantum_trader.services.journal import Journal
from quantum_trader.services.ledger import RedisLedger
from quantum_trader.services.ledger_service import LedgerService, build_ledger_service
from quantum_trader.services.order_router import OrderRouter, Refused
from quantum_trader.services.position_monitor import PositionMonitor
from quantum_trader.services.protective_stop import ProtectiveStops
from quantum_trader.services.risk_guard import RiskGuardConfig, build_risk_guard
from quantum_trader.services.runtime import PeriodicJob, RedisHealthWriter, ServiceRuntime
from quantum_trader.services.signal_engine import SignalEngineConfig, build_signal_engine

EXIT_LANE_GROUPS = ("apply-layer",)


@dataclass(frozen=True, slots=True)
class TradingConfig:
    """What every service of one system is configured with (``bootstrap`` fills it)."""

    symbols: tuple[str, ...]
    signal: SignalEngineConfig
    bridge: IntentBridgeConfig
    risk: RiskGuardConfig
    limits: GateLimits
    apply: ApplyConfig
    exits: ExitConfig
    consumer: ConsumerConfig
    heartbeat_interval_s: float
    heartbeat_ttl_ms: int
    sharding: ShardingSettings = field(default_factory=ShardingSettings)


@dataclass
class SystemParts:
    """Everything the services share, and the long-lived parts tests and reports read."""

    settings: Settings
    exchange: Exchange
    bus: Bus
    redis: aioredis.Redis
    clock: Clock
    instruments: Mapping[str, Instrument]
    symbols: Sequence[str]
    journal: Journal
    trading: TradingConfig
    epoch: str | None = None  # the state marker the gate insists on (ops/safety_state.py)
    reconcile_interval_s: float = 10.0
    sweep_interval_s: float = 5.0
    pumps: list[ExecutionPump] = field(default_factory=list)
    monitors: list[PositionMonitor] = field(default_factory=list)
    apply_layers: list[ApplyLayer] = field(default_factory=list)
    runtimes: dict[str, ServiceRuntime] = field(default_factory=dict)

    def safety_store(self) -> SafetyStore:
        """The durable copy of this namespace's kill switch, breaker and epoch."""
        return SafetyStore(self.settings.data_dir, self.bus.keys.prefix)

    def monitor(self) -> PositionMonitor:
        router = OrderRouter(self.exchange, self.clock)
        ledger = RedisLedger(self.redis, self.bus.keys)
        return PositionMonitor(
            self.exchange,
            ledger,
            router,
            ProtectiveStops(router, ledger, self.bus, self.clock),
            self.bus,
            self.redis,
            self.clock,
            self.instruments,
            self.symbols,
            self.journal,
        )

    async def flatten(self) -> int:
        """Close every exchange position at market, reduce-only (the supervisor's panic)."""
        router = OrderRouter(self.exchange, self.clock)
        closed = 0
        for position in await self.exchange.positions():
            if position.qty <= 0:
                continue
            placed = await router.place(
                panic_exit(position.symbol, position.side, position.qty, self.clock.now_ms())
            )
            closed += 0 if isinstance(placed, Refused) else 1
        return closed

    def specs(self) -> list[ServiceSpec]:
        builders: list[tuple[str, Callable[[], ServiceRuntime]]] = [
            ("signal-engine", self._signal_engine),
            ("intent-bridge", self._intent_bridge),
            ("risk-guard", self._risk_guard),
            ("apply-layer", self._apply_layer),
            ("exit-brain", self._exit_brain),
            ("ledger", self._ledger),
            ("execution-pump", self._pump),
            ("position-monitor", self._position_monitor),
            ("circuit-breaker", self._circuit_breaker),
        ]
        return [ServiceSpec(name, self._tuned(build)) for name, build in builders]

    def build(self, name: str) -> ServiceRuntime:
        """One service's runtime, as the supervisor would start it."""
        return next(spec for spec in self.specs() if spec.name == name).build()

    def _tuned(self, build: Callable[[], ServiceRuntime]) -> Callable[[], ServiceRuntime]:
        def tuned() -> ServiceRuntime:
            runtime = build()
            runtime.heartbeat_interval_s = self.trading.heartbeat_interval_s
            runtime.heartbeat_ttl_ms = self.trading.heartbeat_ttl_ms
            knobs = self.trading.consumer
            for consumer in runtime.consumers:
                consumer.config = replace(
                    consumer.config,
                    batch=knobs.batch,
                    reclaim_idle_ms=knobs.reclaim_idle_ms,
                    reclaim_interval_ms=knobs.reclaim_interval_ms,
                    max_failures=knobs.max_failures,
                    max_bytes=knobs.max_bytes,
                )
            return runtime

        return tuned

    def _circuit_breaker(self) -> ServiceRuntime:
        breaker = CircuitBreaker(
            self.bus,
            self.redis,
            self.trading.limits.allow_pyramiding,
            store=self.safety_store(),
        )
        return build_circuit_breaker(breaker, 1.0, self.trading.heartbeat_interval_s)

    def _common(self, name: str) -> dict[str, object]:
        return {
            "bus": self.bus,
            "redis": self.redis,
            "exchange": self.exchange,
            "clock": self.clock,
            "consumer_name": consumer_name(name),
        }

    def _signal_engine(self) -> ServiceRuntime:
        return build_signal_engine(config=self.trading.signal, **self._common("signal-engine"))  # type: ignore[arg-type]

    def _intent_bridge(self) -> ServiceRuntime:
        return build_intent_bridge(config=self.trading.bridge, **self._common("intent-bridge"))  # type: ignore[arg-type]

    def _risk_guard(self) -> ServiceRuntime:
        common = self._common("risk-guard")
        store = self.safety_store()
        return build_risk_guard(config=self.trading.risk, durable=store, **common)  # type: ignore[arg-type]

    def _apply_layer(self) -> ServiceRuntime:
        layer = build_apply_layer(
            exchange=self.exchange,
            bus=self.bus,
            redis=self.redis,
            clock=self.clock,
            instruments=self.instruments,
            symbols=self.symbols,
            limits=self.trading.limits,
            config=self.trading.apply,
            epoch=self.epoch,
            wait_replicas=self.settings.redis.wait_replicas,
            wait_timeout_ms=self.settings.redis.wait_timeout_ms,
            sharding=self.trading.sharding,
        )
        self.apply_layers.append(layer)
        return build_apply_service(
            layer, layer.owner, self.trading.heartbeat_interval_s, self.trading.consumer
        )

    def _exit_brain(self) -> ServiceRuntime:
        brain = ExitBrain(
            RedisLedger(self.redis, self.bus.keys),
            RedisEffectStore(self.redis, self.bus.keys),
            self.bus,
            self.clock,
            self.instruments,
            self.trading.exits,
            exchange=self.exchange,
            shards=self.trading.sharding.shards,
        )
        return build_exit_brain_service(
            brain, self.redis, consumer_name("exit-brain"), self.trading.heartbeat_interval_s,
            self.trading.consumer,
        )  # fmt: skip

    def _ledger(self) -> ServiceRuntime:
        service = LedgerService(
            RedisLedger(self.redis, self.bus.keys),
            self.journal,
            self.redis,
            self.trading.apply.cooldown_ms,
        )
        return build_ledger_service(
            service,
            self.bus,
            consumer_name("ledger"),
            self.trading.heartbeat_interval_s,
            self.trading.consumer,
        )

    def _pump(self) -> ServiceRuntime:
        pump = ExecutionPump(
            self.exchange, self.bus, RedisEffectStore(self.redis, self.bus.keys), self.clock
        )
        self.pumps.append(pump)
        runtime = ServiceRuntime(
            "execution-pump",
            self.clock,
            self.bus.keys,
            RedisHealthWriter(self.redis),
            heartbeat_interval_s=self.trading.heartbeat_interval_s,
        )

        async def events() -> None:
            await pump.events(runtime.stop_event)

        async def sweep() -> None:
            ledger = RedisLedger(self.redis, self.bus.keys)
            held = [p.symbol for p in await ledger.all()]
            await pump.sweep([*held, *self.symbols])

        runtime.jobs = [
            PeriodicJob("events", 0.0, events),
            PeriodicJob("sweep", self.sweep_interval_s, sweep),
        ]
        return runtime

    def _position_monitor(self) -> ServiceRuntime:
        monitor = self.monitor()
        self.monitors.append(monitor)

        async def reconcile() -> None:
            await monitor.reconcile_once()

        return ServiceRuntime(
            "position-monitor",
            self.clock,
            self.bus.keys,
            RedisHealthWriter(self.redis),
            jobs=[PeriodicJob("reconcile", self.reconcile_interval_s, reconcile)],
            heartbeat_interval_s=self.trading.heartbeat_interval_s,
        )
