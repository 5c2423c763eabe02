"""Benchmarks, run as `python -m native_bench.<name>`; never collected by pytest."""
