"""A private Dovecot (Debian's dovecot-imapd + dovecot-lmtpd) for clawback tests.

Its own config folder under /var/tmp (the test's tmp_path is root-only 0700, and Dovecot runs here as
`nobody`), IMAP and LMTP on loopback ports, users and a master user in passwd-files, Maildir storage.
Every Dovecot process runs as uid 65534 (`setpriv` when we are root): nothing outside the folder is
read or written, no system service is touched. `stop()` stops that instance by its own pid file.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
NOBODY = 65534

_CONFIG = """\
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_master_user_separator = *
auth_username_format = %Lu
default_internal_user = nobody
default_internal_group = nogroup
default_login_user = nobody
mail_location = maildir:{root}/mail/%Lu/Maildir
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/masters
  master = yes
  result_success = continue
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = passwd-file
  args = {root}/userdb
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service anvil {{
  chroot =
}}
{unused}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateDovecot:
    def __init__(self, users: dict[str, str], master: tuple[str, str] = ("kakuri", "master-secret"), *,
                 tls: bool = False) -> None:
        self.users, self.master, self.tls = users, master, tls
        self.root = Path(tempfile.mkdtemp(prefix="kakuri-dovecot-", dir="/var/tmp"))
        self.imap_port, self.lmtp_port = free_port(), free_port()

    def start(self) -> PrivateDovecot:
        root = self.root
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir()
        unused = "\n".join(f"service {name} {{\n  chroot =\n}}" for name in (
            "pop3-login", "submission-login", "managesieve-login", "imap-urlauth-login"))
        ssl = "ssl = no"
        if self.tls:  # STARTTLS with a self-signed certificate for "localhost" (clients pin it as their CA)
            from kakuri.receive.tls import make_self_signed

            self.cert, key = make_self_signed(root, "localhost")
            ssl = f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{key}"
        (root / "dovecot.conf").write_text(_CONFIG.format(root=root, imap_port=self.imap_port, ssl=ssl,
                                                          lmtp_port=self.lmtp_port, unused=unused))
        (root / "masters").write_text(f"{self.master[0]}:{{PLAIN}}{self.master[1]}\n")
        (root / "users").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self.users.items()))
        (root / "userdb").write_text("".join(
            f"{u}::{NOBODY}:{NOBODY}::{root}/mail/{u}::\n" for u in self.users))
        if os.geteuid() == 0:
            for path in [root, *root.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
        root.chmod(0o755)
        self._dovecot()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.imap_port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    def _dovecot(self, *args: str) -> None:
        command = [DOVECOT, "-c", str(self.root / "dovecot.conf"), *args]
        if os.geteuid() == 0:
            command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
        # The daemon inherits our stdout/stderr: a pipe would never reach end of file while it runs.
        with open(self.root / "start.log", "ab") as out:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=30)
        if done.returncode:
            raise RuntimeError(f"dovecot {' '.join(args) or 'start'} failed: {(self.root / 'start.log').read_text()}")

    def stop(self) -> None:
        try:
            self._dovecot("stop")
        except RuntimeError:
            pass
        pid_file = self.root / "run" / "master.pid"
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def login(self, user: str) -> imaplib.IMAP4:
        """An IMAP session as the user themselves (their own password), as their mail client would open."""
        client = imaplib.IMAP4("127.0.0.1", self.imap_port)
        client.login(user, self.users[user])
        return client

    def message_ids(self, user: str, folder: str = "INBOX") -> list[str]:
        client = self.login(user)
        try:
            status, _ = client.select(f'"{folder}"', readonly=True)
            if status != "OK":
                return []
            _, data = client.search(None, "ALL")
            ids = []
            for number in data[0].split():
                _, fetched = client.fetch(number, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                header = fetched[0][1].decode().strip()
                ids.append(header.partition(":")[2].strip().strip("<>"))
            return ids
        finally:
            client.logout()
