"""Benchmarks: each reports ratios against a named baseline measured in the same run."""
