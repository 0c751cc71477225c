import datetime
import plistlib
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from kakuri.detect.base import ScanContext
from kakuri.detect.config_profiles import ConfigProfiles
from kakuri.model import Action
from kakuri.parse.mime import parse_message
from kakuri.pipeline import Scanner
from tests.builders import make_message


def profile(*payload_types: str) -> bytes:
    payloads = [{"PayloadType": t, "PayloadIdentifier": f"x.{i}", "PayloadUUID": str(uuid.uuid4()),
                 "PayloadVersion": 1} for i, t in enumerate(payload_types)]
    return plistlib.dumps({"PayloadType": "Configuration", "PayloadDisplayName": "Mail security update",
                           "PayloadIdentifier": "x", "PayloadUUID": str(uuid.uuid4()), "PayloadVersion": 1,
                           "PayloadContent": payloads})


def signed(data: bytes) -> bytes:
    """A real CMS SignedData around the profile, as `security cms -S` or MDM servers produce."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Profile Signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return (pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())
            .sign(serialization.Encoding.DER, []))


def scan(data: bytes, filename: str = "Security.mobileconfig"):
    raw = make_message(attachments=[(filename, data, "application/x-apple-aspen-config")])
    return {f.symbol: dict(f.evidence) for f in ConfigProfiles().check(parse_message(raw), ScanContext())}


def test_signed_profile_enrolling_in_mdm_and_trusting_a_root_takes_control():
    findings = scan(signed(profile("com.apple.mdm", "com.apple.security.root")))
    assert findings["PROFILE_APPLE_CONFIG"]["signed"] == "yes"
    assert findings["PROFILE_TAKES_CONTROL"]["installs"] == "device management (MDM) enrolment, trusted root certificate"


def test_unsigned_vpn_profile_takes_control():
    findings = scan(profile("com.apple.vpn.managed"), "vpn.mobileconfig")
    assert findings["PROFILE_APPLE_CONFIG"]["signed"] == "no"
    assert "VPN" in findings["PROFILE_TAKES_CONTROL"]["installs"]


def test_web_clip_profile_is_a_lighter_lure():
    findings = scan(profile("com.apple.webClip.managed"))
    assert set(findings) == {"PROFILE_APPLE_CONFIG", "PROFILE_WEB_CLIP"}


def test_other_plists_and_garbage_are_not_profiles():
    assert scan(plistlib.dumps({"CFBundleName": "App"}), "Info.plist") == {}
    assert scan(b"<plist><dict><key>PayloadType</key><broken", "x.mobileconfig") == {}


def test_mdm_profile_is_quarantined(settings):
    raw = make_message(attachments=[("Update.mobileconfig", signed(profile("com.apple.mdm")),
                                     "application/x-apple-aspen-config")])
    verdict = Scanner(settings).scan(raw).verdict
    assert verdict.action is Action.QUARANTINE, verdict.reasons
