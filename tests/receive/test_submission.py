"""Submission: STARTTLS with the configured certificate, AUTH only over TLS, authenticated mail is ours."""

from __future__ import annotations

import aiosmtplib
import pytest
from argon2 import PasswordHasher

from kakuri.receive.tls import CERT_NAME, KEY_NAME, make_self_signed
from tests.builders import make_message
from tests.receive.conftest import message_state, wait_until


@pytest.fixture
async def tls_gateway(start_gateway, sink, tmp_path):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    make_self_signed(home, "localhost")
    return await start_gateway(
        next_hop=f"127.0.0.1:{sink.port}",
        home=home,
        smtp={
            "tls_cert": CERT_NAME,
            "tls_key": KEY_NAME,
            "auth_users": {"alice": PasswordHasher().hash("s3cret-pass")},
        },
        org={"our_domains": ["tokai-keiki.example"], "internal_networks": []},
    )


async def test_auth_is_refused_before_starttls(tls_gateway):
    client = aiosmtplib.SMTP(hostname=tls_gateway.address[0], port=tls_gateway.address[1], start_tls=False)
    await client.connect()
    with pytest.raises(aiosmtplib.SMTPException):
        await client.login("alice", "s3cret-pass")
    await client.quit()


async def test_authenticated_user_may_relay_and_mail_is_outbound(tls_gateway, sink):
    client = aiosmtplib.SMTP(hostname=tls_gateway.address[0], port=tls_gateway.address[1], start_tls=False)
    await client.connect()
    await client.starttls(validate_certs=False)
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await client.login("alice", "wrong-password")
    await client.login("alice", "s3cret-pass")
    _, reply = await client.sendmail("alice@tokai-keiki.example", ["buyer@partner.example"], make_message())
    await client.quit()
    queue_id = reply.split("queued as ")[-1]
    record = await wait_until(lambda: (m := message_state(tls_gateway, queue_id)) and m.state == "delivered" and m)
    assert record.auth_user == "alice" and record.direction == "outbound"
    assert record.recipients[0].direction == "outbound"
