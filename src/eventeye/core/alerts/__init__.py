"""Alerts: stored history, the SSE hub and its fan-out across processes, and deliveries to sinks."""
