"""Infrastructure the system runs on: the embedded Redis, connecting to Redis, the HTTP
venue, the data directory."""
