"""Benchmarks of the store at the scales of issue 8: ``python -m bench --scale S|M|L``."""
