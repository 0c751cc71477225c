"""Submission: STARTTLS with the configured certificate, AUTH only over TLS, authenticated mail is ours."""

from __future__ import annotations

import datetime

import aiosmtplib
import pytest
from argon2 import PasswordHasher
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.builders import make_message
from tests.receive.conftest import message_state, wait_until


def self_signed(folder) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.fixture
async def tls_gateway(start_gateway, sink, tmp_path):
    home = tmp_path / "kakuri-data"
    home.mkdir()
    self_signed(home)
    return await start_gateway(
        next_hop=f"127.0.0.1:{sink.port}",
        home=home,
        smtp={
            "tls_cert": "cert.pem",
            "tls_key": "key.pem",
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
