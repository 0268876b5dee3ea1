"""Benchmarks for sfjwt-vault (not part of the test suite): `python bench/run.py` (see docs/performance.md)."""
