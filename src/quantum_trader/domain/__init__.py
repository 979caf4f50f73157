"""Pure trading vocabulary: instruments, money, orders, fills, positions. Standard library only."""
