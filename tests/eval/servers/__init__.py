"""Test-only servers and process helpers for the evaluation backends (loopback addresses only)."""
