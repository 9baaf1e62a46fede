"""Custom Rasa components for minhu (importable with cwd = nlu/rasa)."""
