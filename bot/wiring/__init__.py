"""The composition root: the only place that picks adapters.

Everything else in ``bot`` is the core and must not import ``integrations``,
``handlers`` or ``nlu`` (import-linter enforces it); this package may.
"""
