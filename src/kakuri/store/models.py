"""Imports every module that defines tables, so Base.metadata is complete (for Alembic and tests).

Each feature adds one import line here.
"""
import kakuri.store.accounts  # noqa: F401,E402  web console users, tokens, sessions
import kakuri.store.messages  # noqa: F401,E402  gateway messages, recipients, audit log
import kakuri.store.incidents  # noqa: F401,E402  outbreak response: emergency modes, incidents, warnings
import kakuri.store.knowledge_tables  # noqa: F401,E402  directory, thread ledger, contact graph
import kakuri.store.retention  # noqa: F401,E402  retained delivered mail, retro-scan, clawback
import kakuri.store.indicators  # noqa: F401,E402  imported indicators and feed state
import kakuri.store.cluster_tables  # noqa: F401,E402  scale-out: node registry, shared spool, blobs in PostgreSQL
import kakuri.store.counts  # noqa: F401,E402  dashboard counts per hour (totals and pending deltas)
