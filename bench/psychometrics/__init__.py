"""Benchmarks of the psychometrics engine against girth, the Python mirt package and catsim."""
