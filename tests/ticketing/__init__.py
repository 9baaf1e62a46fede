"""Tests of the ticket backends: the Open311 clients, the webhook receiver, the built-in service."""
