"""Barfinex: a low-latency trading operating system.

Raw exchange data in, risk-checked orders out: four actors (Provider,
Detector, Advisor, Inspector) wired by ZeroMQ, with a compiled hot path in
barfinex._fast.
"""
__version__ = "0.1.0"
