"""Process runtime: the supervisor, the fail-safe state guard, the circuit breaker, the
clock that follows a run, logging."""
