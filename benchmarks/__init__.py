"""Benchmarks: `python -m benchmarks [--quick] [--json]` runs every `bench_*` module of this package."""
