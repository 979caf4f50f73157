"""``quantum run --speed X`` paces bars on the wall clock: X market seconds a second."""

from __future__ import annotations

from quantum_trader.ops.paper_run import Pacer


class FakeWall:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_speed_sixty_starts_one_minute_bar_a_second_and_catches_up_after_a_slow_bar() -> None:
    wall = FakeWall()
    pace = Pacer(60.0, 60_000, wall.monotonic, wall.sleep)
    await pace.wait(0)
    assert wall.slept == []
    wall.now += 0.25  # bar 0 took a quarter second
    await pace.wait(1)
    assert wall.slept == [0.75]
    wall.now += 2.5  # bar 1 was slow: bar 2 and 3 are already due
    await pace.wait(2)
    await pace.wait(3)
    assert wall.slept == [0.75]
    await pace.wait(5)
    assert wall.now == 105.0


async def test_no_speed_is_stepped_and_never_waits() -> None:
    wall = FakeWall()
    pace = Pacer(None, 60_000, wall.monotonic, wall.sleep)
    for n in range(100):
        await pace.wait(n)
    assert wall.slept == []
