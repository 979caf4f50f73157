"""What the system shows about itself: Prometheus metrics and `quantum status`."""
