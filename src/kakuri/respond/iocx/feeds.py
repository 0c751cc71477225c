"""Feeds on a schedule: conditional downloads (ETag / If-Modified-Since), and the last good copy kept.

`[[iocx.feeds]]` entries name a URL, its format (abusech, stix, misp) and how often to refresh it.
`kakuri iocs refresh` (run it from cron or a systemd timer every few minutes) fetches the feeds
that are due: a `304 Not Modified` costs the server nothing; a new download that parses replaces the
feed's indicators and its copy in `<home>/feeds/`; a failed download or a file that does not parse
changes nothing (the last good indicators stay in force) and is recorded in the feed's `last_error`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict

from kakuri.respond.iocx import Ioc, store_iocs
from kakuri.store.config import Stores
from kakuri.store.indicators import FeedState
from kakuri.store.messages import as_utc, utcnow


class FeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    url: str
    format: Literal["abusech", "stix", "misp"] = "abusech"
    refresh_minutes: float = 60.0
    timeout_seconds: float = 60.0


@dataclass(frozen=True)
class FeedResult:
    name: str
    status: str  # updated | unchanged | failed | not_due
    indicators: int = 0
    detail: str = ""


def parse_feed(text: str, fmt: str, name: str) -> list[Ioc]:
    if fmt == "stix":
        from kakuri.respond.iocx.stix import read_bundle

        return read_bundle(text)[1]
    if fmt == "misp":
        from kakuri.respond.iocx.misp import read_events

        return [ioc for _uuid, iocs in read_events(text) for ioc in iocs]
    from kakuri.respond.iocx.abusech import read_abusech

    return read_abusech(text, source=name)


def refresh_feeds(
    feeds: list[FeedConfig], stores: Stores, home: Path, *, force: bool = False, client: httpx.Client | None = None,
) -> list[FeedResult]:
    client = client or httpx.Client(follow_redirects=True)
    results = []
    for feed in feeds:
        with stores.sessions() as session:
            state = session.get(FeedState, feed.name) or FeedState(name=feed.name, url=feed.url, etag="",
                                                                     last_modified="", last_error="", indicators=0)
            if state.url != feed.url:  # a new address: its validators mean nothing
                state.url, state.etag, state.last_modified = feed.url, "", ""
            due = force or state.fetched_at is None or utcnow() - as_utc(state.fetched_at) >= timedelta(
                minutes=feed.refresh_minutes)
            if not due:
                results.append(FeedResult(feed.name, "not_due", state.indicators))
                continue
            result = _refresh_one(feed, state, session, client, Path(home))
            session.add(state)
            session.commit()
            results.append(result)
    return results


def _refresh_one(feed: FeedConfig, state: FeedState, session, client: httpx.Client, home: Path) -> FeedResult:
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    state.fetched_at = utcnow()
    try:
        response = client.get(feed.url, headers=headers, timeout=feed.timeout_seconds)
        if response.status_code == 304:
            state.last_error = ""
            return FeedResult(feed.name, "unchanged", state.indicators)
        response.raise_for_status()
        iocs = parse_feed(response.text, feed.format, feed.name)
        if not iocs and response.text.strip():
            raise ValueError("the download parsed to no indicators (an error page?)")
    except (httpx.HTTPError, ValueError) as exc:
        state.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        return FeedResult(feed.name, "failed", state.indicators, state.last_error)
    _keep_copy(home / "feeds" / f"{feed.name}.{feed.format}", response.content)
    store_iocs(session, iocs, source=f"feed:{feed.name}", replace=True)
    state.etag = response.headers.get("ETag", "")
    state.last_modified = response.headers.get("Last-Modified", "")
    state.changed_at, state.indicators, state.last_error = utcnow(), len(iocs), ""
    return FeedResult(feed.name, "updated", len(iocs))


def _keep_copy(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
