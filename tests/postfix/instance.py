"""A private Postfix (Debian's) on loopback ports with its own config folder, delivering into a Maildir.

See shared/docs/postfix-in-tests.md for why each setting is here: the default config must list our
folder in alternate_config_directories, the log goes to a file (no syslog), data_directory belongs to
postfix, the virtual agent refuses uid 0, and nothing is chrooted.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import time
from pathlib import Path

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
ROOT = Path("/var/tmp/kakuri-postfix-tests")  # not under pytest's 0700 tmp: postfix and nobody must reach it
MAIL_UID = 65534  # nobody: the virtual agent will not deliver as root
DOMAIN = "example.org"  # recipients here are delivered into the Maildir

SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def is_installed() -> bool:
    return Path(POSTFIX).exists() and Path(POSTCONF).exists()


def allow_config_dir(config_dir: Path) -> None:
    """List `config_dir` in the default instance's alternate_config_directories (dropping vanished ones)."""
    main_cf = Path("/etc/postfix/main.cf")
    if not main_cf.exists():
        main_cf.write_text("# written by kakuri's Postfix tests: the default instance is never started\n")
    current = subprocess.run(
        [POSTCONF, "-c", "/etc/postfix", "-h", "alternate_config_directories"], capture_output=True, text=True
    ).stdout.replace(",", " ").split()
    wanted = [d for d in current if Path(d).exists() and d != str(config_dir)] + [str(config_dir)]
    subprocess.run(
        [POSTCONF, "-c", "/etc/postfix", "-e", f"alternate_config_directories = {' '.join(wanted)}"], check=True
    )


class PostfixInstance:
    def __init__(self, name: str, *, smtp_port: int, main_extra: str, master_extra: str) -> None:
        self.root = ROOT / name
        self.smtp_port = smtp_port
        self.config_dir = self.root / "etc"
        self.maildir = self.root / "mail" / "inbox"
        self.log = self.root / "maillog"
        self._main_extra, self._master_extra = main_extra, master_extra

    def _main_cf(self) -> str:
        r = self.root
        return f"""\
compatibility_level = 3.6
queue_directory = {r}/queue
data_directory = {r}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.kakuri.test
mydomain = kakuri.test
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = {self.log}
maillog_file_prefixes = {r}
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {r}/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:{MAIL_UID}
virtual_gid_maps = static:{MAIL_UID}
virtual_minimum_uid = 100
# Deferred mail is retried soon (the tests also flush the queue when they need it now).
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
smtp_connect_timeout = 5s
{self._main_extra}"""

    def _master_cf(self) -> str:
        listener = f"127.0.0.1:{self.smtp_port} inet n - n - - smtpd\n"
        return SERVICES + listener + self._master_extra

    def start(self) -> None:
        self.stop()
        if self.root.exists():
            shutil.rmtree(self.root)
        for sub in ("etc", "queue", "data", "mail"):
            (self.root / sub).mkdir(parents=True)
        for path in (ROOT, self.root):
            path.chmod(0o755)
        shutil.chown(self.root / "data", "postfix", "postfix")
        shutil.chown(self.root / "mail", MAIL_UID, MAIL_UID)
        (self.config_dir / "main.cf").write_text(self._main_cf())
        (self.config_dir / "master.cf").write_text(self._master_cf())
        allow_config_dir(self.config_dir)
        self._postfix("start")
        self.wait_listening()

    def wait_listening(self, timeout: float = 20.0) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.smtp_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"postfix did not listen on {self.smtp_port}:\n{self.log_tail()}")

    def stop(self) -> None:
        if (self.config_dir / "main.cf").exists() and (self.root / "queue" / "pid" / "master.pid").exists():
            subprocess.run([POSTFIX, "-c", str(self.config_dir), "stop"], capture_output=True)

    def flush(self) -> None:
        subprocess.run(["/usr/sbin/postqueue", "-c", str(self.config_dir), "-f"], check=True, capture_output=True)

    def queue_count(self) -> int:
        out = subprocess.run(
            ["/usr/sbin/postqueue", "-c", str(self.config_dir), "-j"], capture_output=True, text=True
        ).stdout
        return len([line for line in out.splitlines() if line.strip()])

    def _postfix(self, command: str) -> None:
        result = subprocess.run([POSTFIX, "-c", str(self.config_dir), command], capture_output=True, text=True)
        if result.returncode != 0:
            check = subprocess.run([POSTFIX, "-c", str(self.config_dir), "check"], capture_output=True, text=True)
            raise AssertionError(f"postfix {command} failed: {result.stderr}{check.stderr}\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no maillog)"

    def delivered_raw(self) -> list[bytes]:
        """Messages in the Maildir (new/), as delivered."""
        new = self.maildir / "new"
        if not new.exists():
            return []
        out = []
        for path in sorted(new.iterdir()):
            try:
                out.append(path.read_bytes())
            except FileNotFoundError:
                continue
        return out

    def delivered(self) -> list[email.message.Message]:
        return [email.message_from_bytes(raw) for raw in self.delivered_raw()]

    def delivered_ids(self) -> list[str]:
        return [m.get("Message-ID", "").strip() for m in self.delivered()]


def ensure_postfix() -> str | None:
    """None when postfix is there (installed now if missing and we are root); else why not."""
    if is_installed():
        return None
    script = Path(__file__).resolve().parents[2] / "scripts" / "install-system.sh"
    if os.geteuid() == 0 and script.exists():
        subprocess.run(["bash", str(script)], capture_output=True, timeout=600)
    return None if is_installed() else "Debian's postfix is not installed and cannot be installed here"
