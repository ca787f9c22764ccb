"""Experiments that take minutes, not seconds: run as `python -m benchmarks.<name>`."""
