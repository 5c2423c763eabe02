"""Benchmarks, never collected by pytest.

`python -m native_bench` runs the suite (workloads × systems, stage micro-benchmarks, reports;
see native_bench/README.md); `python -m native_bench.<name>` runs one micro-benchmark.
"""
