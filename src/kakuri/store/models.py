"""Imports every module that defines tables, so Base.metadata is complete (for Alembic and tests).

Each feature adds one import line here.
"""
