"""DSNs: RFC 3464 structure, original header only."""

from email import message_from_bytes

from kakuri.act.bounce import build_dsn
from tests.builders import make_message


def test_dsn_reports_each_failed_recipient_and_keeps_only_the_original_header():
    original = make_message(subject="Order", body="SECRET BODY\n", message_id="<o-1@partner.example>")
    dsn = message_from_bytes(
        build_dsn(
            hostname="gw.example",
            original=original,
            mail_from="taro@partner.example",
            queue_id="q9",
            failures=[
                ("a@x.example", "550 5.1.1 No such user"),
                ("b@x.example", "gave up after 5 attempts: 451 4.3.0 busy"),
            ],
        )
    )
    assert dsn.get_content_type() == "multipart/report" and dsn["To"] == "taro@partner.example"
    assert dsn["Auto-Submitted"] == "auto-replied"
    text, status, headers = dsn.get_payload()
    blocks = status.get_payload()
    assert blocks[0]["Reporting-MTA"] == "dns; gw.example"
    assert [(b["Final-Recipient"], b["Status"]) for b in blocks[1:]] == [
        ("rfc822; a@x.example", "5.1.1"),
        ("rfc822; b@x.example", "5.0.0"),
    ]
    assert "o-1@partner.example" in headers.get_payload()
    assert b"SECRET BODY" not in dsn.as_bytes()
