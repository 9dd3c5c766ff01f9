"""The compiled hot path. Import modules through barfinex.backend, which picks
the compiled modules (default) or their pure-Python twins (BARFINEX_BACKEND=py)
and fails loudly when the compiled ones are missing."""
