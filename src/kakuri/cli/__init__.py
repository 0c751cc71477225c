"""Command line: one module per command group, joined in main.py."""
