import asyncio
import smtplib
import ssl

from typer.testing import CliRunner

from kakuri.cli.main import app
from kakuri.settings import load_settings


def test_init_makes_a_self_signed_certificate_and_the_gateway_offers_starttls(tmp_path):
    home = tmp_path / "kd"
    result = CliRunner().invoke(app, ["--home", str(home), "init", "--domain", "tokai-keiki.example"])
    assert result.exit_code == 0, result.output
    assert (home / "tls" / "key.pem").stat().st_mode & 0o077 == 0  # the key is readable by its owner only
    settings = load_settings(home)
    assert settings.section("smtp")["tls_cert"] == "tls/cert.pem"

    from kakuri.receive.server import Gateway

    settings.__pydantic_extra__["smtp"] = {**settings.section("smtp"), "listen": "127.0.0.1:0", "scan_pool": "thread"}

    def handshake(port: int) -> tuple[bool, str]:
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.ehlo()
            offered = client.has_extn("starttls")
            client.starttls(context=ssl._create_unverified_context())  # self-signed: nothing to verify against
            return offered, client.sock.version()

    async def run() -> tuple[bool, str]:
        gateway = Gateway(settings)
        await gateway.start()
        try:
            return await asyncio.to_thread(handshake, gateway.address[1])
        finally:
            await gateway.stop()

    offered, version = asyncio.run(run())
    assert offered and version.startswith("TLS")


def test_init_keeps_an_existing_config_and_certificate(tmp_path):
    home = tmp_path / "kd"
    CliRunner().invoke(app, ["--home", str(home), "init"])
    cert = (home / "tls" / "cert.pem").read_bytes()
    (home / "kakuri.toml").write_text((home / "kakuri.toml").read_text() + "\n# mine\n")
    again = CliRunner().invoke(app, ["--home", str(home), "init"])
    assert again.exit_code == 0 and "left as it is" in again.output
    assert (home / "tls" / "cert.pem").read_bytes() == cert
    assert (home / "kakuri.toml").read_text().endswith("# mine\n")
