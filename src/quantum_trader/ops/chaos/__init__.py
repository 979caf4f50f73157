"""``quantum chaos``: the whole system, each service its own process, under injected
faults in stepped accelerated time, audited by a checker that reads the exchange's own
order and fill history and the streams, never the ledger's opinion of itself."""
