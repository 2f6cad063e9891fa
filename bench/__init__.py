"""Benchmarks: numbers printed and saved, never asserted by tests."""
