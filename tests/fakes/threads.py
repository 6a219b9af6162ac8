"""Fake threads server for tests (to be written)."""
