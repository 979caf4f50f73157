"""``python -m quantum_trader.cli``: the ``quantum`` command."""

from quantum_trader.cli import main

main()
