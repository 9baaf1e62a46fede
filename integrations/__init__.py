"""Adapters: implementations of the core's ports (storage, channels, simulators)."""
