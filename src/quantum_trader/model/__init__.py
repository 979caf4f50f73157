"""The AI signal model: labels from the system's own exits (features live in
``quantum_trader.features``)."""
