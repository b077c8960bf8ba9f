"""Helpers the tests share that the program does not use (kept out of the package)."""
