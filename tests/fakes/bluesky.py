"""Fake bluesky server for tests (to be written)."""
