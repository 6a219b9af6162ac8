"""Fake mastodon server for tests (to be written)."""
