"""Fill a data folder with N quarantined messages and measure the console's quarantine list in Chromium.

    .venv/bin/python bench/console_100k.py --home /tmp/kakuri-100k --count 100000 --screenshot /tmp/quarantine.png

Rows go in through the store's own tables (SQLAlchemy Core, executemany in chunks: the per-message
`mailflow.record_accepted` path commits each message, which is right for a gateway and slow for
100,000 fixtures). Then the console is started on loopback with uvicorn, Debian's Chromium logs in,
and the script prints the navigation timings (Navigation Timing API) of the list pages: first page,
filtered by symbol, by recipient, and a page far back through the keyset cursor.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

SYMBOLS = ["ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE", "FILE_SCRIPT", "MACRO_AUTOEXEC", "URL_LURE",
           "IMPERSONATION_DISPLAY_NAME", "ATTACHMENT_ARCHIVE", "AUTH_DMARC_FAIL", "THREAD_SENDER_MISMATCH"]
ACTIONS = ["quarantine"] * 8 + ["deliver", "reject"]
NAMES = ["山田 太郎", "Suzuki Ichiro", "佐藤 花子", "Tanaka Ken", "経理部", "Kato Yui"]
PASSWORD = "benchmark password 1"


def fill(home: Path, count: int, seed: int = 7) -> None:
    from sqlalchemy import insert

    from kakuri.settings import load_settings
    from kakuri.store import accounts, counts
    from kakuri.store.config import open_stores
    from kakuri.store.messages import Message, Recipient

    rng = random.Random(seed)
    stores = open_stores(load_settings(home))
    with stores.sessions.begin() as db:
        if accounts.get_user(db, "bench") is None:
            accounts.add_user(db, name="bench", role="analyst", password=PASSWORD)
    blob = stores.blobs.put(b"Subject: bench\r\nFrom: a@b.example\r\n\r\nbody\r\n")
    now = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, count, 5000):
        messages, recipients = [], []
        for i in range(start, min(start + 5000, count)):
            qid = f"B{i:08d}"
            symbols = rng.sample(SYMBOLS, rng.randint(1, 3))
            action = rng.choice(ACTIONS)
            state = {"quarantine": "quarantined", "deliver": "delivered", "reject": "rejected"}[action]
            sender = f"user{rng.randint(1, 5000)}@sender{rng.randint(1, 300)}.example"
            messages.append(dict(
                queue_id=qid, message_id=f"{qid}@bench", mail_from=sender,
                from_header=f"{rng.choice(NAMES)} <{sender}>", to_header="", subject=f"請求書 No.{i} のご確認",
                date_header="", size=rng.randint(2_000, 2_000_000), blob_sha256=blob, direction="inbound",
                client_ip="203.0.113.5", helo="mx.example", auth_user="", origin="smtp", action=action,
                score=round(rng.uniform(10, 40), 1), reasons=["score >= quarantine 10"], symbols=symbols,
                findings=[{"symbol": s, "detector": "bench", "evidence": {}} for s in symbols], state=state,
                received_at=now - timedelta(seconds=rng.randint(0, 30 * 86400)), scanned_at=None,
                finished_at=None, updated_at=now,
            ))
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                recipients.append(dict(queue_id=qid, address=f"staff{rng.randint(1, 800)}@tokai-keiki.example",
                                       direction="inbound", status=state if state != "delivered" else "delivered",
                                       attempts=0, last_reply=""))
        with stores.engine.begin() as connection:
            connection.execute(insert(Message), messages)
            connection.execute(insert(Recipient), recipients)
    with stores.engine.begin() as connection:  # rows inserted here bypass mailflow, which keeps the dashboard counts
        counts.rebuild(connection)
    print(f"inserted {count} messages in {time.perf_counter() - started:.1f} s")
    stores.close()


def measure(home: Path, screenshot: Path | None) -> None:
    from playwright.sync_api import sync_playwright

    from kakuri.cli.bench_console import console

    with console(home) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, timezone_id="Asia/Tokyo")
        page.goto(f"{base}/login?next=/quarantine")
        page.fill("input[name=name]", "bench")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/quarantine")
        for label, path in [
            ("first page", "/quarantine"),
            ("first page again (warm)", "/quarantine"),
            ("symbol=MACRO_AUTOEXEC", "/quarantine?symbol=MACRO_AUTOEXEC"),
            ("recipient=staff17@tokai-keiki.example", "/quarantine?recipient=staff17%40tokai-keiki.example"),
            ("sender fragment sender42.", "/quarantine?sender=sender42."),
        ]:
            _timed(page, base + path, label)
        page.goto(f"{base}/quarantine")
        for _ in range(20):  # walk back 20 pages through the cursor
            page.click("a[rel=next]")
        _timed(page, page.url, "page 21 via cursor")
        if screenshot:
            page.goto(f"{base}/quarantine")
            page.screenshot(path=str(screenshot), full_page=False)
            page.goto(f"{base}/")
            page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-dashboard.png")), full_page=True)
            print(f"screenshots: {screenshot} and {screenshot.with_name(screenshot.stem + '-dashboard.png')}")
        browser.close()


def _timed(page, url: str, label: str) -> None:
    page.goto(url)
    timing = page.evaluate("""() => { const t = performance.getEntriesByType('navigation')[0];
        return {ttfb: t.responseStart - t.requestStart, load: t.loadEventEnd - t.startTime}; }""")
    rows = page.locator("table.list tbody tr").count()
    print(f"{label:40s} server {timing['ttfb']:7.1f} ms   page load {timing['load']:7.1f} ms   rows {rows}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--no-fill", action="store_true", help="measure an already filled folder")
    args = parser.parse_args()
    if not args.no_fill:
        fill(args.home, args.count)
    measure(args.home, args.screenshot)


if __name__ == "__main__":
    main()
