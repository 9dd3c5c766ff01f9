"""Pure-Python twins of every barfinex._fast module (same public API).

They exist for parity tests and for reading; production code runs the
compiled modules. Select them explicitly with BARFINEX_BACKEND=py.
"""
