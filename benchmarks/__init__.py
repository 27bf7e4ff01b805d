"""Benchmarks that print figures (`make bench`); the measured results live in docs/benchmarks.md.

Nothing here is a test: a benchmark builds its own scratch warehouses from synthetic data and reports timings.
"""
