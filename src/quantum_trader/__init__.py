"""Quantum Trader: a crypto futures trading system on Redis Streams."""

__version__ = "0.1.0"
