"""Mail behaviour of compromised hosts and accounts, and the benign look-alikes; the warning lists."""

from __future__ import annotations

from tests.hunt.conftest import symbols
from tests.hunt.logbuilders import DAY, HOUR, T0, Maillog

OURS = "corp.example"
STAFF = [f"user{i}@{OURS}" for i in range(30)]


def _ordinary_mail(log: Maillog) -> None:
    """Every employee writes to a couple of partners a day and receives mail from them."""
    for i, account in enumerate(STAFF):
        for day in range(3):
            partner = f"p{i}.{day}@partner{i}.example"
            log.deliver(T0 + day * DAY + 9 * HOUR + i * 60, partner, [account])
            log.submit(T0 + day * DAY + 10 * HOUR + i * 60, account, [partner], client_ip=f"10.1.1.{i + 10}",
                       subject="Re: Quote", local=())
            log.submit(T0 + day * DAY + 11 * HOUR + i * 60, account, [STAFF[(i + 1) % len(STAFF)]],
                       client_ip=f"10.1.1.{i + 10}", local=(STAFF[(i + 1) % len(STAFF)],))


def test_spam_burst_from_infected_pc_flags_host_and_account_with_complete_notify_list(run_hunt):
    log = Maillog()
    _ordinary_mail(log)
    victim, pc = STAFF[3], "10.1.1.13"
    log.deliver(T0 + 8 * HOUR, "tanaka@customer.example", [victim])
    log.deliver(T0 + 8 * HOUR, "MAILER-DAEMON@customer.example", [victim])
    log.deliver(T0 + 8 * HOUR, "noreply@shop.example", [victim])
    targets = [f"contact{i}@victims{i % 17}.example" for i in range(120)]
    dead = set(targets[:10])
    for i, rcpt in enumerate(targets):
        log.submit(T0 + DAY + 13 * HOUR + i * 15, victim, [rcpt], client_ip=pc, subject="Re: invoice", bounced=dead)
    records = run_hunt(mail=log)
    assert records[victim]["verdict"] == "infected"
    assert {"HUNT_MAIL_BURST", "HUNT_MAIL_FANOUT", "HUNT_MAIL_REPLY_TO_STRANGERS"} <= symbols(records[victim])
    assert records[pc]["verdict"] == "infected"
    notify = set(records[pc]["notify"])
    assert set(targets) - dead <= notify  # spam recipients
    assert {"tanaka@customer.example", "p3.0@partner3.example"} <= notify  # correspondents, both ways
    assert not notify & dead  # only hard-bounced: nobody to warn
    assert not {"noreply@shop.example", "mailer-daemon@customer.example"} & notify
    assert not any(a.endswith("@" + OURS) for a in notify)  # colleagues are not external contacts
    assert all(records[a]["verdict"] == "clean" for a in STAFF if a != victim)


def test_one_newsletter_to_many_new_recipients_stays_clean(run_hunt):
    log = Maillog()
    _ordinary_mail(log)
    subscribers = [f"reader{i}@list{i}.example" for i in range(160)]
    log.submit(T0 + DAY + 10 * HOUR, f"press@{OURS}", subscribers, client_ip="10.1.1.50", subject="Spring news")
    records = run_hunt(mail=log)
    assert records[f"press@{OURS}"]["verdict"] == "clean"
    assert records["10.1.1.50"]["verdict"] == "clean"


def test_stolen_credentials_used_from_outside_addresses_flag_the_account(run_hunt):
    log = Maillog()
    _ordinary_mail(log)
    victim = STAFF[7]
    for i in range(45):
        log.submit(T0 + 2 * DAY + i * 120, victim, [f"x{i}@target{i}.example", f"y{i}@target{i}.example"],
                   client_ip=f"203.0.113.{i % 4 + 1}", client_name="unknown", subject="Re: order")
    records = run_hunt(mail=log)
    assert records[victim]["verdict"] == "infected"
    assert {"HUNT_MAIL_AUTH_EXTERNAL", "HUNT_MAIL_AUTH_MANY_SOURCES"} <= symbols(records[victim])
    assert "x0@target0.example" in records[victim]["notify"]


def test_travelling_employee_sending_usual_mail_from_a_hotel_stays_clean(run_hunt):
    log = Maillog()
    _ordinary_mail(log)
    traveller = STAFF[5]
    for i in range(4):
        log.submit(T0 + 2 * DAY + 20 * HOUR + i * 900, traveller, [f"p5.{i % 2}@partner5.example"],
                   client_ip="198.51.100.200", client_name="unknown", subject="Re: Quote")
    records = run_hunt(mail=log)
    assert records[traveller]["verdict"] == "clean"
    assert symbols(records[traveller]) == {"HUNT_MAIL_AUTH_EXTERNAL"}


def test_billing_system_mailing_many_new_customers_stays_clean(run_hunt):
    log = Maillog()
    _ordinary_mail(log)
    billing = f"billing@{OURS}"
    for i in range(150):
        log.submit(T0 + DAY + 2 * HOUR + i * 20, billing, [f"customer{i}@shop{i}.example"], client_ip="10.1.5.5",
                   subject="Your invoice")
    records = run_hunt(mail=log)
    assert {"HUNT_MAIL_BURST", "HUNT_MAIL_FANOUT"} <= symbols(records[billing])
    assert records[billing]["verdict"] == "clean"


def test_mailbox_that_only_receives_mail_is_reported_clean(run_hunt):
    log = Maillog()
    _ordinary_mail(log)
    log.deliver(T0 + 5, "someone@partner.example", [f"quiet@{OURS}"])
    quiet = run_hunt(mail=log, maillog_year=2021)[f"quiet@{OURS}"]
    assert quiet["verdict"] == "clean" and quiet["first_seen"].startswith("2021-03-01")


def test_replies_to_threads_begun_before_the_log_are_not_replies_to_strangers(run_hunt):
    log = Maillog()
    _ordinary_mail(log)
    account = STAFF[9]
    partners = [f"old{i}@longtime{i}.example" for i in range(8)]
    for i, partner in enumerate(partners):
        log.submit(T0 + 5 + i * 60, account, [partner], client_ip="10.1.1.19", subject="Re: delivery dates")
        log.deliver(T0 + 2 * DAY + i * 60, partner, [account], subject="Re: Re: delivery dates")
    records = run_hunt(mail=log)
    assert "HUNT_MAIL_REPLY_TO_STRANGERS" not in symbols(records[account])
