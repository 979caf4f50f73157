"""The consumer groups and the streams each reads: the system's topology, in one place.

Every service's consumer names its group from here, and whatever needs the whole picture
(the stepped runner waiting for every group to be idle) asks :func:`topology`.
"""

from __future__ import annotations

from typing import Final

from quantum_trader.bus.keys import Keys

SIGNAL_ENGINE: Final = "signal-engine"  # market bars -> trade intents
EXIT_BRAIN: Final = "exit-brain"  # market bars -> exit plans
INTENT_BRIDGE: Final = "intent-bridge"  # trade intents -> entry plans
APPLY_LAYER: Final = "apply-layer"  # entry and exit plans -> orders (reserves entries)
LEDGER: Final = "ledger"  # fills -> positions, journal, cooldowns
RISK_GUARD: Final = "risk-guard"  # fills -> risk state


def topology(keys: Keys) -> dict[str, tuple[str, ...]]:
    """Each stream and the groups that read it."""
    return {
        keys.market: (SIGNAL_ENGINE, EXIT_BRAIN),
        keys.trade_intent: (INTENT_BRIDGE,),
        keys.apply_plan: (APPLY_LAYER,),
        keys.apply_exit: (APPLY_LAYER,),
        keys.fills: (LEDGER, RISK_GUARD),
    }
