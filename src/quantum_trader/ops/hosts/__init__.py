"""Many hosts on one machine (network namespaces) for the multi-host chaos run."""
