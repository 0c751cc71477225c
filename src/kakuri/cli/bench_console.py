"""`kakuri bench console`: fill PostgreSQL with N messages (COPY) and time the console and API at that volume.

The rows are made in code: a month of mail with a working-day rhythm, inbound/outbound/internal, mostly
delivered, ~3% quarantined (some since released or deleted), rejects and holds, symbols and findings as
the detectors write them, senders and subjects in Japanese and English, 1-3 recipients, one audit event
each. They go in with COPY (psycopg) with the secondary indexes and foreign keys dropped and rebuilt
afterwards, as a restore does; then the dashboard counts are rebuilt (`store/counts.py`) and the tables
analysed. Then the console runs on loopback (uvicorn, in this process) and Debian's Chromium loads each
page several times (Navigation Timing: server time to the first byte, and the whole page); the same
queries are timed through the REST API with the CPU they cost in this process and in PostgreSQL.

Without `--url`, a throwaway PostgreSQL server is made in a temporary folder (initdb, loopback port,
fsync off: the benchmark measures reads) and removed at the end; `--keep-url` reuses a filled database.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import typer

from kakuri.cli import output
from kakuri.cli.bench import _free_port

PASSWORD = "benchmark password 1"
USER = "bench"
TABLES = ("gw_messages", "gw_recipients", "gw_audit")
STAFF_DOMAIN = "tokai-keiki.example"
GROUP_DOMAINS = [STAFF_DOMAIN, "tokai-logi.example", "tokai-keiki-hk.example"]

# --- what the rows are made of ---------------------------------------------------------------------

FAMILIES = ["yamada", "suzuki", "sato", "tanaka", "watanabe", "ito", "nakamura", "kobayashi", "kato", "yoshida",
            "yamamoto", "sasaki", "matsumoto", "inoue", "kimura", "hayashi", "shimizu", "mori", "abe", "ikeda"]
GIVEN = ["taro", "hanako", "ichiro", "yui", "ken", "haruka", "daisuke", "misaki", "sho", "aya", "takumi", "rina"]
KANJI_FAMILY = ["山田", "鈴木", "佐藤", "田中", "渡辺", "伊藤", "中村", "小林", "加藤", "吉田", "山本", "佐々木", "松本",
                "井上", "木村", "林", "清水", "森", "阿部", "池田"]
KANJI_GIVEN = ["太郎", "花子", "一郎", "結衣", "健", "遥", "大輔", "美咲", "翔", "彩", "拓海", "里奈"]
COMPANY = ["sakura", "fuji", "asahi", "hikari", "midori", "tokai", "kansai", "hokuto", "minato", "aoba", "kawasaki",
           "nishiki", "daiichi", "shinsei", "yamato", "kaiun", "seiko", "tenma", "hinode", "izumi"]
COMPANY_KIND = ["shoji", "denki", "kogyo", "butsuryu", "seisakusho", "trading", "systems", "logistics", "bank", "soft"]
COMPANY_JA = ["さくら商事", "富士電機工業", "朝日物流", "ひかりシステム", "みどり製作所", "東海運輸", "関西トレーディング"]
ROLES = ["info", "sales", "support", "billing", "noreply", "newsletter", "order", "keiri", "soumu", "hr"]
SUBJECTS = [
    "【重要】{month}月分 請求書のご送付（{company}）",
    "お見積りの件について（No.{n}）",
    "Re: {month}月{day}日の打ち合わせについて",
    "会議のご案内：{month}/{day} 定例ミーティング",
    "ご注文ありがとうございます（注文番号: {n}）",
    "【{company}】{month}月のお知らせ",
    "出荷完了のお知らせ 伝票番号 {n}",
    "パスワード変更のお願い",
    "Invoice {n} from {company}",
    "Re: Purchase order PO-{n}",
    "Weekly report week {week}",
    "Your shipment {n} has been dispatched",
    "Meeting notes {month}/{day}",
    "RE: 契約書ドラフト v{v} のご確認",
    "[EXTERNAL] Action required: mailbox storage {n}",
    "ご入金確認のご連絡（{company}）",
]
SYMBOLS_BENIGN = ["URL_LINK_UNKNOWN_HOST", "ATTACHMENT_ARCHIVE", "PDF_LINK", "URL_SHORTENER", "AUTH_SPF_SOFTFAIL",
                  "CALENDAR_LINK", "URL_FILE_SHARING", "MACRO_PRESENT", "QR_CODE_LINK"]
SYMBOLS_THREAT = ["ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE", "FILE_SCRIPT", "MACRO_AUTOEXEC", "LURE_CREDENTIALS",
                  "LURE_MODEL", "IMPERSONATION_STAFF_NAME", "IMPERSONATION_PARTNER_NAME", "AUTH_DMARC_FAIL",
                  "URL_LOOKALIKE_DOMAIN", "HTML_CREDENTIAL_FORM", "THREAD_HIJACK", "FILE_DOUBLE_EXTENSION",
                  "URL_FEED_MATCH", "LOOKALIKE_PARTNER_DOMAIN", "PDF_URI_LURE", "LURE_PAYMENT_FAILED"]
# (action, state, weight): what a month of a company's mail looks like after the gateway.
OUTCOMES = [("deliver", "delivered", 880), ("tag", "delivered", 50), ("deliver", "bounced", 10),
            ("deliver", "queued", 2), ("quarantine", "quarantined", 26), ("quarantine", "released", 2),
            ("quarantine", "deleted", 2), ("reject", "rejected", 15), ("hold", "held", 3)]


class Maker:
    """Rows for gw_messages, gw_recipients and gw_audit, newest last, from one seed."""

    def __init__(self, seed: int, blob: str) -> None:
        self.rng = random.Random(seed)
        self.blob = blob
        rng = self.rng
        domains = [f"{rng.choice(COMPANY)}-{rng.choice(COMPANY_KIND)}{i}.example" for i in range(2000)]
        self.senders = []
        for i in range(20000):
            domain = domains[int(rng.paretovariate(1.2)) % len(domains)]
            family, given = rng.randrange(len(FAMILIES)), rng.randrange(len(GIVEN))
            if i % 4 == 0:
                local, name = rng.choice(ROLES), rng.choice(COMPANY_JA)
            else:
                local = f"{GIVEN[given]}.{FAMILIES[family]}"
                name = (f"{KANJI_FAMILY[family]} {KANJI_GIVEN[given]}" if i % 3 else
                        f"{GIVEN[given].title()} {FAMILIES[family].title()}")
            self.senders.append((f"{local}@{domain}", name))
        self.staff = [f"{GIVEN[i % len(GIVEN)]}.{FAMILIES[(i // 12) % len(FAMILIES)]}{i // 240 or ''}@"
                      f"{GROUP_DOMAINS[i % 7 == 0 and i % 3 or 0]}" for i in range(3000)]
        self.outcomes = [(a, s) for a, s, _ in OUTCOMES]
        self.weights = [w for _, _, w in OUTCOMES]

    @functools.cache  # noqa: B019  (one Maker per run)
    def _verdict_json(self, symbols: tuple[str, ...], name: str) -> tuple[str, str]:
        findings = [{"symbol": s, "detector": s.split("_", 1)[0].lower(), "weight": 4.0,
                     "evidence": {"person": name} if s.startswith("IMPERSONATION_") else {"seen": s.lower()}}
                    for s in symbols]
        return output.json_text(list(symbols)), output.json_text(findings)

    def _json(self, value) -> str:
        return "[]" if value == [] else output.json_text(value)

    def times(self, count: int, days: int, now: datetime) -> Iterator[datetime]:
        """`count` times over the last `days` days, busier in working hours and on weekdays, in order."""
        start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
        slots = [start + timedelta(hours=h) for h in range(days * 24)]
        local = [(s + timedelta(hours=9)) for s in slots]  # Japan
        weight = [(4 if 8 <= t.hour < 19 else 1) * (1 if t.weekday() < 5 else 0.3) for t in local]
        total = sum(weight)
        done = 0
        for i, slot in enumerate(slots):
            n = round(count * sum(weight[: i + 1]) / total) - done
            done += n
            for second in sorted(self.rng.random() * 3600 for _ in range(n)):
                yield slot + timedelta(seconds=second)

    def message(self, n: int, at: datetime) -> tuple[tuple, list[tuple], tuple]:
        rng = self.rng
        action, state = rng.choices(self.outcomes, self.weights)[0]
        roll = rng.random()
        direction = "inbound" if roll < 0.8 else "outbound" if roll < 0.95 else "internal"
        if direction == "inbound":
            sender, name = self.senders[int(rng.paretovariate(1.1)) % len(self.senders)]
            rcpts = rng.sample(self.staff, rng.choice((1, 1, 1, 1, 2, 3)))
        else:
            sender = rng.choice(self.staff)
            name = sender.split("@")[0].replace(".", " ").title()
            others = [rng.choice(self.senders)[0] for _ in range(rng.choice((1, 1, 2)))]
            rcpts = others if direction == "outbound" else [rng.choice(self.staff)]
        threat = action in ("quarantine", "reject", "hold")
        if threat:
            symbols = rng.sample(SYMBOLS_THREAT, rng.randint(1, 4))
            score = round(rng.uniform(10, 45), 1)
        else:
            symbols = rng.sample(SYMBOLS_BENIGN, rng.choice((0, 0, 0, 1, 1, 2)))
            score = round(rng.uniform(0, 9), 1)
        impersonated = name if any(s.startswith("IMPERSONATION_") for s in symbols) else ""
        symbols_json, findings_json = self._verdict_json(tuple(symbols), impersonated)
        subject = rng.choice(SUBJECTS).format(
            month=at.month, day=at.day, n=rng.randrange(10000, 999999), week=at.isocalendar()[1],
            v=rng.randint(1, 9), company=rng.choice(COMPANY_JA if rng.random() < 0.5 else COMPANY).title(),
        )
        qid = f"{int(at.timestamp() * 1000):012X}{n % 65536:04X}"
        from_header = f'"{name}" <{sender}>'
        finished = None if state in ("queued", "released") else at + timedelta(seconds=rng.uniform(0.05, 3))
        kept = action in ("quarantine", "hold", "reject") and state != "deleted"
        json = self._json
        message = (
            qid, f"{qid}.{n}@{sender.split('@')[1]}", sender, from_header, ", ".join(rcpts), subject,
            at.strftime("%a, %d %b %Y %H:%M:%S +0000"), rng.randint(1500, 3_000_000), self.blob if kept else None,
            direction, f"198.51.100.{rng.randrange(1, 255)}", f"mx{rng.randrange(9)}.{sender.split('@')[1]}", "",
            "smtp", action, score, json([f"score {score}"] if threat else []), symbols_json, findings_json,
            state, at, at, finished, finished or at,
        )
        rcpt_status = {"delivered": "delivered", "bounced": "bounced", "queued": "deferred", "quarantined":
                       "quarantined", "released": "pending", "deleted": "deleted", "rejected": "rejected",
                       "held": "held"}[state]
        recipients = [(qid, r, direction, rcpt_status, 1 if rcpt_status in ("delivered", "bounced") else 0,
                       "250 2.0.0 Ok" if rcpt_status == "delivered" else "", None,
                       finished if rcpt_status == "delivered" else None) for r in rcpts]
        audit = (qid, at, "gateway", "received", "", json({"action": action}))
        return message, recipients, audit


MESSAGE_COLUMNS = ("queue_id", "message_id", "mail_from", "from_header", "to_header", "subject", "date_header",
                   "size", "blob_sha256", "direction", "client_ip", "helo", "auth_user", "origin", "action", "score",
                   "reasons", "symbols", "findings", "state", "received_at", "scanned_at", "finished_at",
                   "updated_at")
RECIPIENT_COLUMNS = ("queue_id", "address", "direction", "status", "attempts", "last_reply", "next_attempt_at",
                     "delivered_at")
AUDIT_COLUMNS = ("queue_id", "at", "actor", "event", "reason", "detail")


# --- loading ---------------------------------------------------------------------------------------


def load(url: str, home: Path, count: int, *, days: int, seed: int) -> dict:
    """Migrate, COPY `count` messages in, rebuild indexes and counts; returns the timings in seconds."""
    import psycopg

    from kakuri.settings import load_settings
    from kakuri.store import accounts, counts
    from kakuri.store.config import open_stores

    stores = open_stores(load_settings(home))
    with stores.sessions.begin() as db:
        if accounts.get_user(db, USER) is None:
            accounts.add_user(db, name=USER, role="analyst", password=PASSWORD)
    blob = stores.blobs.put(b"Subject: bench\r\nFrom: a@b.example\r\n\r\nbody\r\n")
    timings = {}
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM gw_messages)").fetchone()[0]:
            # Never mix synthetic mail into (or drop indexes of) a database that holds real records.
            raise output.fail("the database already holds messages: give an empty one, or --keep-url to measure it")
        rebuild = _drop_secondary(conn)
        maker, now = Maker(seed, blob), datetime.now(UTC)
        started = time.perf_counter()
        # One COPY per table, each on its own connection, all three streaming at once (no foreign keys now).
        with contextlib.ExitStack() as stack:
            copies = []
            for table, columns in zip(TABLES, (MESSAGE_COLUMNS, RECIPIENT_COLUMNS, AUDIT_COLUMNS), strict=True):
                cur = stack.enter_context(stack.enter_context(psycopg.connect(dsn)).cursor())
                copies.append(stack.enter_context(cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN")))
            messages, recipients, audit = copies
            for n, at in enumerate(maker.times(count, days, now)):
                message, rcpts, event = maker.message(n, at)
                messages.write_row(message)
                for row in rcpts:
                    recipients.write_row(row)
                audit.write_row(event)
        timings["copy_s"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")  # GIN builds sort in memory, not in temp files
        for statement in rebuild:
            conn.execute(statement)
        conn.execute(f"ANALYZE {', '.join(TABLES)}")
        timings["indexes_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with stores.engine.begin() as connection:
        counts.rebuild(connection)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE gw_counts")
    timings["counts_s"] = time.perf_counter() - started
    stores.close()
    return timings


def _drop_secondary(conn) -> list[str]:
    """Drop the foreign keys and every index but the primary keys of the three tables; returns the DDL
    that makes them again (building an index once is far cheaper than updating it per row)."""
    tables = list(TABLES)
    fks = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)", (tables,)).fetchall()
    indexes = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) AND i.schemaname = 'public' "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", (tables,)).fetchall()
    for table, name, _ in fks:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    return [d for _, d in indexes] + [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, d in fks]


# --- measuring -------------------------------------------------------------------------------------


def _pages(url: str, count: int) -> list[tuple[str, str]]:
    """(label, path) of the pages to time, with search terms taken from the data (a real sender and order
    number) and a deep quarantine page reached by its keyset cursor."""
    import psycopg

    from kakuri.web.queries import encode_cursor

    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        deep = conn.execute("SELECT received_at, queue_id FROM gw_messages WHERE state = 'quarantined' "
                            "ORDER BY received_at DESC, queue_id DESC OFFSET 10000 LIMIT 1").fetchone()
        subject = conn.execute("SELECT subject FROM gw_messages WHERE subject LIKE '%%注文番号%%' "
                               "ORDER BY received_at DESC LIMIT 1 OFFSET %s", (count // 400,)).fetchone()[0]
        # A sender with a handful of messages, and the most frequent sender's domain.
        rare = conn.execute("SELECT mail_from FROM gw_messages WHERE direction = 'inbound' GROUP BY mail_from "
                            "HAVING count(*) BETWEEN 2 AND 5 ORDER BY mail_from LIMIT 1").fetchone()[0]
        common = conn.execute("SELECT mail_from FROM gw_messages WHERE direction = 'inbound' GROUP BY mail_from "
                              "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    local, _, domain = rare.partition("@")
    order = subject.split("注文番号: ")[1].rstrip("）")
    cursor = encode_cursor(deep[0], deep[1]) if deep else ""
    return [
        ("dashboard, 24 hours", "/"),
        ("dashboard, 7 days", "/?hours=168"),
        ("quarantine, first page", "/quarantine"),
        ("quarantine, page 201 (cursor)", "/quarantine?" + urlencode({"cursor": cursor})),
        ("quarantine, sender fragment", "/quarantine?" + urlencode({"sender": domain.split("-")[0] + "-"})),
        ("quarantine, subject fragment", "/quarantine?" + urlencode({"q": "請求書"})),
        ("trace, sender fragment (rare)", "/trace?" + urlencode({"sender": f"{local[-5:]}@{domain[:8]}"})),
        ("trace, sender domain (frequent)", "/trace?" + urlencode({"sender": "@" + common.partition("@")[2]})),
        ("trace, subject (order number)", "/trace?" + urlencode({"subject": order})),
        ("trace, subject 請求書 (common)", "/trace?" + urlencode({"subject": "請求書"})),
        ("trace, recipient fragment", "/trace?" + urlencode({"recipient": "hanako.sato@"})),
    ]


API = {"/": "/api/v1/dashboard?hours=24", "/?hours=168": "/api/v1/dashboard?hours=168"}


def _api_path(path: str) -> str:
    if path in API:
        return API[path]
    route, _, query = path.partition("?")
    return f"/api/v1{route}?{query}" if query else f"/api/v1{route}"


@contextlib.contextmanager
def console(home: Path) -> Iterator[str]:
    import uvicorn

    from kakuri.settings import load_settings
    from kakuri.web.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(load_settings(home)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def measure_browser(base: str, pages: list[tuple[str, str]], loads: int, chromium: str) -> list[dict]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, timezone_id="Asia/Tokyo")
        page.goto(f"{base}/login?next=/quarantine")
        page.fill("input[name=name]", USER)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/quarantine")
        for label, path in pages:
            page.goto(base + path)  # warm: the first dashboard also builds the symbol catalogue (~1 s, once)
            server, whole, rows = [], [], 0
            for _ in range(loads):
                page.goto(base + path)
                timing = page.evaluate("""() => { const t = performance.getEntriesByType('navigation')[0];
                    return {ttfb: t.responseStart - t.requestStart, load: t.loadEventEnd - t.startTime}; }""")
                server.append(timing["ttfb"])
                whole.append(timing["load"])
                rows = page.locator("table.list tbody tr").count()
            out.append({"page": label, "path": path, "rows": rows, **_stats("server_ms", server),
                        **_stats("page_ms", whole)})
        browser.close()
    return out


def measure_api(base: str, token: str, pages: list[tuple[str, str]], loads: int, pg_pids) -> list[dict]:
    import httpx
    import psutil

    me = psutil.Process()
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for label, path in pages:
            api = _api_path(path)
            client.get(api).raise_for_status()  # warm
            wall = []
            backends = pg_pids()  # the console's pooled connections, warm by now
            cpu0, mine0, pg0 = _cpu(me), time.thread_time(), _pg_cpu(backends)
            for _ in range(loads):
                started = time.perf_counter()
                response = client.get(api)
                wall.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
            # This process minus this thread (the client) is the console's CPU; PostgreSQL's is its own.
            app_cpu = (_cpu(me) - cpu0) - (time.thread_time() - mine0)
            pg_cpu = _pg_cpu(backends) - pg0
            items = response.json()
            count = len(items.get("items", [])) if isinstance(items, dict) else 0
            out.append({"page": label, "api": api, "items": count, **_stats("wall_ms", wall),
                        "app_cpu_ms": round(app_cpu * 1000 / loads, 1), "pg_cpu_ms": round(pg_cpu * 1000 / loads, 1)})
    return out


def _cpu(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _pg_cpu(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += _cpu(psutil.Process(pid))
    return total


def _server_cpu(postmaster: int | None) -> float:
    """CPU seconds of a PostgreSQL server we started: the postmaster, its live processes and the ended ones
    it has reaped (every connection's backend)."""
    import psutil

    if not postmaster:
        return 0.0
    root = psutil.Process(postmaster)
    times = root.cpu_times()
    return (times.user + times.system + times.children_user + times.children_system
            + _pg_cpu([c.pid for c in root.children(recursive=True)]))


def _stats(name: str, values: list[float]) -> dict:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {f"{name}_median": round(statistics.median(values), 1), f"{name}_p95": round(p95, 1)}


# --- a throwaway PostgreSQL ------------------------------------------------------------------------


@contextlib.contextmanager
def private_postgres() -> Iterator[tuple[str, int]]:
    """(URL of an empty database, postmaster pid) on a server in a temporary folder, removed afterwards."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise output.fail("PostgreSQL is not installed (scripts/install-system.sh), or give --url")
    bindir = Path(found[-1]).parent
    user = "postgres" if os.geteuid() == 0 else None  # the server refuses to run as root
    root = Path(tempfile.mkdtemp(prefix="kakuri-bench-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if user:
        shutil.chown(root, user)
        shutil.chown(sockets, user)
    run_as = ["runuser", "-u", user, "--"] if user else []
    port = _free_port()
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off -c shared_buffers=512MB "
               "-c maintenance_work_mem=256MB -c max_wal_size=4GB -c work_mem=16MB")
    try:
        subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E",
                        "UTF8", "--locale=C.UTF-8", "--no-sync"], check=True, capture_output=True)
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
                        "-w", "start"], check=True, capture_output=True)
        pid = int((data / "postmaster.pid").read_text().split()[0])
        subprocess.run([*run_as, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                        "kakuri"], check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/kakuri", pid
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, check=False)  # already stopped is fine
        shutil.rmtree(root, ignore_errors=True)


def _backends(url: str):
    """A function listing the pids of this database's server processes (their CPU is read from /proc,
    so only for a server on this machine)."""
    import psycopg

    def pids() -> list[int]:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
            return [pid for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    return pids


# --- the command -----------------------------------------------------------------------------------


def bench_console(
    count: int = typer.Option(1_000_000, "--count", "-n", help="Messages to load"),
    url: str = typer.Option("", "--url", help="postgresql+psycopg://… of an empty database (default: throwaway)"),
    keep_url: str = typer.Option("", "--keep-url", help="Measure a database loaded before (no loading)"),
    days: int = typer.Option(30, "--days", help="The loaded mail spans this many days back from now"),
    loads: int = typer.Option(7, "--loads", help="Loads of each page (median and p95 of these)"),
    seed: int = typer.Option(13, "--seed"),
    chromium: Path = typer.Option(Path("/usr/bin/chromium"), "--chromium"),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the results to this file"),
) -> None:
    """Fill PostgreSQL with N messages by COPY, then time dashboard, quarantine and trace in Chromium and the API."""
    with tempfile.TemporaryDirectory(prefix="kakuri-bench-console-") as tmp:
        server = contextlib.nullcontext((keep_url or url, None)) if (keep_url or url) else private_postgres()
        with server as (db_url, postmaster):
            home = Path(tmp) / "kakuri-data"
            home.mkdir()
            (home / "kakuri.toml").write_text(f'[store]\nurl = "{db_url}"\n', encoding="utf-8")
            result = {"count": count, "load_average_before": os.getloadavg()}
            if not keep_url:
                cpu0, server0 = time.process_time(), _server_cpu(postmaster)
                result["load"] = load(db_url, home, count, days=days, seed=seed)
                result["load"]["loader_cpu_s"] = round(time.process_time() - cpu0, 1)
                if postmaster:
                    result["load"]["postgresql_cpu_s"] = _server_cpu(postmaster) - server0
                result["load"] = {k: round(v, 1) for k, v in result["load"].items()}
                output.echo(f"loaded {count:,} messages: {result['load']}")
            result["rows"] = _row_counts(db_url)
            pages = _pages(db_url, result["rows"]["gw_messages"])
            token = _token(home)
            with console(home) as base:
                result["browser"] = measure_browser(base, pages, loads, str(chromium))
                result["api"] = measure_api(base, token, pages, loads, _backends(db_url))
            result["load_average_after"] = os.getloadavg()
    _show(result)
    if json_out:
        json_out.write_text(output.json_text(result, indent=1), encoding="utf-8")


def _row_counts(url: str) -> dict:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (*TABLES, "gw_counts")}


def _token(home: Path) -> str:
    from kakuri.settings import load_settings
    from kakuri.store import accounts
    from kakuri.store.config import open_stores

    stores = open_stores(load_settings(home))
    try:
        with stores.sessions.begin() as db:
            user = accounts.get_user(db, USER) or accounts.add_user(db, name=USER, role="analyst", password=PASSWORD)
            return accounts.create_token(db, user, "bench console")
    finally:
        stores.close()


def _show(result: dict) -> None:
    out = output.console()
    out.print(f"rows: {result['rows']}; load average before {result['load_average_before']}, "
              f"after {result['load_average_after']}")
    table = output.table("page (Chromium)", "rows", "server ms median", "p95", "page ms median", "p95")
    for r in result["browser"]:
        table.add_row(r["page"], str(r["rows"]), str(r["server_ms_median"]), str(r["server_ms_p95"]),
                      str(r["page_ms_median"]), str(r["page_ms_p95"]))
    out.print(table)
    table = output.table("same query, API", "items", "ms median", "p95", "console CPU ms", "PostgreSQL CPU ms")
    for r in result["api"]:
        table.add_row(r["page"], str(r["items"]), str(r["wall_ms_median"]), str(r["wall_ms_p95"]),
                      str(r["app_cpu_ms"]), str(r["pg_cpu_ms"]))
    out.print(table)

