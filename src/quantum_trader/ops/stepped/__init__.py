"""Paper trading with every service as its own process, in stepped market time, and the
independent audit of what it did (the exchange's own history against the invariants).

``quantum run --processes`` runs it as it is; ``quantum chaos`` runs the same
orchestration with seeded faults (``ops.chaos`` supplies them): production code never
imports the fault harness.
"""
