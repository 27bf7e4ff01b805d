"""Deterministic generators for the project's embedded sample and for benchmarks (no outside data needed)."""
