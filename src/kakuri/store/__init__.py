"""Persistent state: database (SQLite by default, PostgreSQL for scale-out) and message blobs."""
