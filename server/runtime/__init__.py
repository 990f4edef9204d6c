"""Wiring: the gateway (what every endpoint shares), the embedded and distributed runtimes, health checks."""
