"""kakuri (隔離): mail-security gateway and outbreak-response toolkit against Emotet-style attacks."""

__version__ = "0.1.0"
