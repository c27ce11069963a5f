"""Benchmarks: speed and memory targets are measured here, not asserted in tests."""
