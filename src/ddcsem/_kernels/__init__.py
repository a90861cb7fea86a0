"""Numba kernels (private). Each has a plain-numpy reference in the public module that wraps it."""
