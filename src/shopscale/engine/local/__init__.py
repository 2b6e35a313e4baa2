"""The embedded engine: DuckDB for reading and shaping, NumPy/SciPy/numba for the math."""
