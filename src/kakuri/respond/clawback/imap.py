"""The IMAP connector (IMAPClient): log in as each recipient through a master user or a per-mailbox credential.

Dovecot's master users log in as `user*master` (the separator is `auth_master_user_separator`); other
servers with an admin login (Cyrus `authzid`, Exchange impersonation over IMAP) are reached through a
per-mailbox credential map instead (`credentials_file`: CSV `mailbox,login,password`).

The message is looked for by its Message-ID header in every selectable folder except the quarantine
folder, because users file mail. It is moved with MOVE (RFC 6851) where offered, otherwise copied,
flagged \\Deleted and expunged by UID (UIDPLUS) so that no other message flagged by the user goes too.
"""

from __future__ import annotations

import csv
import ssl
from pathlib import Path
from typing import Literal

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from pydantic import BaseModel, ConfigDict

from kakuri.respond.clawback import MailboxResult, Outcome


class ImapConfig(BaseModel):
    """`[clawback.imap]`."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = 143
    security: Literal["none", "starttls", "ssl"] = "starttls"  # "none" only on loopback or a trusted link
    ca_file: str = ""  # CA to verify the server with (a private CA or the server's own certificate)
    master_user: str = ""  # e.g. "kakuri" (Dovecot passdb with master = yes)
    master_password: str = ""
    master_password_file: str = ""  # preferred: a file readable by kakuri only
    master_separator: str = "*"
    login_format: str = "{address}"  # what the server calls the mailbox: "{address}" or "{local}"
    credentials_file: str = ""  # CSV mailbox,login,password for servers without a master login
    timeout_seconds: float = 30.0


class ImapConnector:
    def __init__(self, config: ImapConfig, *, quarantine_folder: str, home: Path | None = None) -> None:
        self.config = config
        self.quarantine_folder = quarantine_folder
        self.home = Path(home) if home else Path(".")
        self._master_password = config.master_password
        if config.master_password_file:
            self._master_password = self._path(config.master_password_file).read_text().strip()
        self._credentials: dict[str, tuple[str, str]] = {}
        if config.credentials_file:
            with self._path(config.credentials_file).open(encoding="utf-8", newline="") as handle:
                for row in csv.reader(handle):
                    if len(row) >= 3 and not row[0].startswith("#"):
                        self._credentials[row[0].strip().lower()] = (row[1].strip(), row[2])

    def _path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.home / path

    def remove(self, mailbox: str, message_id: str, *, delete: bool, dry_run: bool) -> MailboxResult:
        try:
            with self._session(mailbox) as client:
                found = self._find(client, message_id, exclude=self.quarantine_folder)
                if not found:
                    return MailboxResult(mailbox, Outcome.NOT_FOUND, detail=f"no message <{message_id}> in any folder")
                folder, uids = found
                if dry_run:
                    return MailboxResult(mailbox, Outcome.WOULD_DELETE if delete else Outcome.WOULD_MOVE, folder, len(uids))
                client.select_folder(folder)
                if delete:
                    client.delete_messages(uids)
                    self._expunge(client, uids)
                    return MailboxResult(mailbox, Outcome.DELETED, folder, len(uids))
                self._ensure_folder(client, self.quarantine_folder)
                self._move(client, uids, self.quarantine_folder)
                return MailboxResult(mailbox, Outcome.MOVED, folder, len(uids), detail=f"to {self.quarantine_folder}")
        except _Unreachable as exc:
            return MailboxResult(mailbox, Outcome.UNREACHABLE, detail=str(exc))
        except (IMAPClientError, OSError) as exc:
            return MailboxResult(mailbox, Outcome.FAILED, detail=f"{type(exc).__name__}: {exc}"[:500])

    def restore(self, mailbox: str, message_id: str, *, folder: str) -> MailboxResult:
        folder = folder or "INBOX"
        try:
            with self._session(mailbox) as client:
                if not client.folder_exists(self.quarantine_folder):
                    return MailboxResult(mailbox, Outcome.NOT_FOUND, detail=f"no folder {self.quarantine_folder}")
                client.select_folder(self.quarantine_folder)
                uids = client.search(["HEADER", "Message-ID", f"<{message_id}>"])
                if not uids:
                    return MailboxResult(mailbox, Outcome.NOT_FOUND, detail=f"no <{message_id}> in {self.quarantine_folder}")
                self._ensure_folder(client, folder)
                self._move(client, uids, folder)
                return MailboxResult(mailbox, Outcome.RESTORED, folder, len(uids), detail=f"back to {folder}")
        except _Unreachable as exc:
            return MailboxResult(mailbox, Outcome.UNREACHABLE, detail=str(exc))
        except (IMAPClientError, OSError) as exc:
            return MailboxResult(mailbox, Outcome.FAILED, detail=f"{type(exc).__name__}: {exc}"[:500])

    # -- IMAP ------------------------------------------------------------------------------------
    def _session(self, mailbox: str) -> IMAPClient:
        login, password = self._login_for(mailbox)
        config = self.config
        context = self._ssl_context()
        try:
            client = IMAPClient(config.host, port=config.port, ssl=config.security == "ssl",
                                ssl_context=context, timeout=config.timeout_seconds)
        except (OSError, IMAPClientError) as exc:
            raise _Unreachable(f"cannot connect to {config.host}:{config.port}: {exc}") from exc
        try:
            if config.security == "starttls":
                client.starttls(context)
            client.login(login, password)
        except LoginError as exc:
            _close(client)
            raise _Unreachable(f"login as {login!r} refused: {exc}; check [clawback.imap] credentials") from exc
        except ssl.SSLError as exc:
            _close(client)
            raise _Unreachable(f"TLS with {config.host}:{config.port} failed: {exc}; set [clawback.imap] ca_file "
                               "to the CA (or certificate) of the mail server") from exc
        except (OSError, IMAPClientError) as exc:
            _close(client)
            raise _Unreachable(f"{config.host}:{config.port}: {exc}") from exc
        return client

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.config.security == "none":
            return None
        context = ssl.create_default_context()
        if self.config.ca_file:
            context.load_verify_locations(self._path(self.config.ca_file))
        return context

    def _login_for(self, mailbox: str) -> tuple[str, str]:
        address = mailbox.lower()
        if address in self._credentials:
            return self._credentials[address]
        if not self.config.master_user:
            raise _Unreachable(f"no credential for {mailbox}: set [clawback.imap] master_user or credentials_file")
        user = self.config.login_format.format(address=address, local=address.partition("@")[0])
        return f"{user}{self.config.master_separator}{self.config.master_user}", self._master_password

    @staticmethod
    def _find(client: IMAPClient, message_id: str, *, exclude: str) -> tuple[str, list[int]] | None:
        folders = [name for flags, _delim, name in client.list_folders() if b"\\Noselect" not in flags]
        folders.sort(key=lambda name: name.upper() != "INBOX")  # where it almost always is
        for folder in folders:
            if folder == exclude:
                continue
            client.select_folder(folder, readonly=True)
            uids = client.search(["HEADER", "Message-ID", f"<{message_id}>"])
            if uids:
                return folder, list(uids)
        return None

    @staticmethod
    def _ensure_folder(client: IMAPClient, folder: str) -> None:
        if not client.folder_exists(folder):
            client.create_folder(folder)

    @staticmethod
    def _move(client: IMAPClient, uids: list[int], folder: str) -> None:
        if client.has_capability("MOVE"):
            client.move(uids, folder)
            return
        client.copy(uids, folder)
        client.delete_messages(uids)
        ImapConnector._expunge(client, uids)

    @staticmethod
    def _expunge(client: IMAPClient, uids: list[int]) -> None:
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()


class _Unreachable(Exception):
    pass


def _close(client: IMAPClient) -> None:
    """Drop a connection that failed half-way (a failed TLS handshake leaves no socket to shut down)."""
    try:
        client.shutdown()
    except (OSError, IMAPClientError):
        pass
