"""exchange/sim package."""
