"""A service under systemd: READY=1 once its loops run, WATCHDOG=1 from its own heartbeat
loop (so a hung consumer loop stops feeding it and systemd would restart the process),
STOPPING=1 at SIGTERM — on a real datagram socket the test binds as systemd would, and
with the unit's secrets read from its credentials directory."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import Message
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import SimClock
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.ops.service_run import run_loops
from quantum_trader.runtime.sd_notify import SystemdNotify
from quantum_trader.services.runtime import MemoryHealthWriter, ServiceRuntime
from tests.integration.ops.run_process import start, stop
from tests.integration.ops.systemd_socket import next_message, systemd_socket, waiting

__all__ = ["systemd_socket"]  # the fixture

T0 = 1_700_000_000_000


def test_a_service_under_systemd_reads_its_credentials_and_says_ready_alive_stopping(
    redis_server: EmbeddedRedis,
    keys: Keys,
    tmp_path: Path,
    systemd_socket: tuple[str, socket.socket],
) -> None:
    path, sock = systemd_socket
    credentials = tmp_path / "credentials"  # what LoadCredential= makes: one file each
    credentials.mkdir()
    (credentials / "QUANTUM_REDIS_URL").write_text(redis_server.url + "\n")
    (credentials / "QUANTUM_KEY_PREFIX").write_text(keys.prefix)
    env = {
        "NOTIFY_SOCKET": path,
        "WATCHDOG_USEC": "2000000",
        "CREDENTIALS_DIRECTORY": str(credentials),
        "QUANTUM_DATA_DIR": str(tmp_path / "var"),
        "QUANTUM_HEARTBEAT_INTERVAL_MS": "100",
    }
    proc = start(["service", "watchdog"], env, tmp_path)
    try:
        deadline = time.monotonic() + 60  # bounded: the process starts, then beats
        first = next_message(sock, deadline)
        assert first is not None and first.split("\n")[0] == "READY=1", (first, stop(proc))
        assert "STATUS=watchdog: running" in first
        pings = 0
        while pings < 3 and (message := next_message(sock, deadline)) is not None:
            assert message == "WATCHDOG=1", message
            pings += 1
        assert pings == 3, stop(proc)
        os.killpg(proc.pid, signal.SIGTERM)
        messages = []
        while not any(m.startswith("STOPPING=1") for m in messages):
            message = next_message(sock, deadline)
            assert message is not None, (messages, stop(proc))
            messages.append(message)
        assert set(messages[:-1]) <= {"WATCHDOG=1"}, messages
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, (out, err)
        # it found its Redis and namespace in the credentials, not in the environment
        client = redis.Redis.from_url(redis_server.url)
        try:
            assert client.exists(keys.health("watchdog")) == 1
        finally:
            client.close()
    finally:
        stop(proc)


async def test_a_hung_consumer_loop_stops_feeding_the_watchdog(
    redis_client: aioredis.Redis, keys: Keys, systemd_socket: tuple[str, socket.socket]
) -> None:
    """The heartbeat loop feeds the watchdog only while every consumer loop turns: once
    one has hung in a handler for longer than the heartbeat TTL, no WATCHDOG=1 goes out."""
    path, sock = systemd_socket
    timer = SimClock(T0)
    bus = Bus(RedisTransport(redis_client), SimClock(T0), keys)
    entered, release = asyncio.Event(), asyncio.Event()

    async def hang(message: Message, delivery: Delivery) -> None:
        entered.set()
        await release.wait()

    consumer = StreamConsumer(
        bus, [keys.market], "exit-brain", "eb-1", hang, config=ConsumerConfig(block_ms=20)
    )
    runtime = ServiceRuntime(
        "exit-brain", bus.clock, keys, MemoryHealthWriter(), [consumer],
        heartbeat_interval_s=1.0, heartbeat_ttl_ms=3_000, timer=timer,
    )  # fmt: skip
    unit = SystemdNotify(path, watchdog_usec=10_000_000)
    task = asyncio.create_task(run_loops(runtime, "exit-brain", unit))

    async def beat_once() -> list[str]:
        """Move the heartbeat loop's clock one interval on; what it sent meanwhile."""
        parked = timer.now_ms() + 1000
        timer.advance(1.0)
        for _ in range(500):  # bounded: until the loop is parked at its next pause
            if timer.next_deadline() == parked + 1000:
                break
            await asyncio.sleep(0.01)
        return waiting(sock)

    try:
        await until(lambda: consumer.stats.last_poll_at is not None, "the first poll")
        assert (await beat_once())[0].startswith("READY=1")
        assert await beat_once() == ["WATCHDOG=1"]
        await bus.publish(keys.market, heartbeat_message(keys))
        await until(entered.is_set, "the handler to hang")
        sent = []
        for _ in range(6):  # past the TTL (3 s) and the poll's block: stalled
            sent.append(await beat_once())
        assert sent[0] == ["WATCHDOG=1"] and sent[-2:] == [[], []], sent
        assert runtime.status == "stalled"
    finally:
        release.set()
        runtime.stop_event.set()
        code = await asyncio.wait_for(task, 10)
    assert code == 0
    assert any(m.startswith("STOPPING=1") for m in waiting(sock))


def heartbeat_message(keys: Keys) -> Message:
    from quantum_trader.bus.schemas import Heartbeat

    return Heartbeat(
        msg_id="hb-x", ts_event=T0, ts_init=T0, source="x", service="x",
        instance="h:1", pid=1, status="running", started_at=T0,
    )  # fmt: skip


async def until(check: object, what: str) -> None:
    for _ in range(1000):  # bounded: 10 s
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within 10 s: {what}")
