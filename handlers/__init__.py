"""Handlers: one unit per intent or flow, seeing only core types and ports."""

from handlers.registry import build_handlers

__all__ = ["build_handlers"]
