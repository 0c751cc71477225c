"""Detectors: one module per threat, each turning a parsed message into findings."""
