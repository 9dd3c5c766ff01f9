"""Tools a desk runs on its own recorded data (`barfinex data ...`)."""
