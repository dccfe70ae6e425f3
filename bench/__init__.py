"""Benchmarks for Bureau; run them from the repository root (``python -m bench.pipeline``)."""
