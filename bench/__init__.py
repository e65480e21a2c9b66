"""Benchmarks, run by hand (not by CI): ``.venv/bin/python bench/<name>.py``."""
