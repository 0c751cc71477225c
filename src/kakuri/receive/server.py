"""The running gateway: SMTP listener, spool, scan pool and delivery runner, built from Settings.

`Gateway(settings, smtp_listen=..., next_hop=...)` is what `kakuri serve`, `kakuri run-default`, the
tests and the benchmark start; `await gateway.start()` returns once the port is listening and the
spool left by a previous run has been handed to the runner.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from pathlib import Path

from aiosmtpd.smtp import AuthResult, SMTP, syntax

from kakuri.receive.config import GatewayConfig, parse_host_port
from kakuri.receive.delivery import DeliveryQueue
from kakuri.receive.ppap import PpapWatcher, with_ppap_policy
from kakuri.receive.direction import DirectionRules
from kakuri.receive.relay import MaildirRelay, SmtpRelay, Transport
from kakuri.receive.scanning import ScanPool
from kakuri.receive.smtp_data import FastDataSMTP
from kakuri.receive.smtp_handler import GatewayHandler
from kakuri.receive.spool import Spool, process_folder
from kakuri.store.config import Stores, open_stores
from kakuri.store.retention import Retention

log = logging.getLogger(__name__)


class _SMTP(FastDataSMTP):  # aiosmtpd's SMTP, reading DATA in chunks (receive/smtp_data.py)
    # RFC 5321 allows 1000 octets per line, but real mail (HTML newsletters, some MUAs) breaks it and
    # Postfix accepts and folds such lines; refusing them would bounce legitimate mail. Beyond 64 KiB
    # a line is abuse: 500, and aiosmtpd discards it as it reads, without buffering it.
    line_length_limit = 64 * 1024

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """MAIL/RCPT path: `<dot-atom@domain>` without a comment is taken as it is; anything else goes
        through aiosmtpd's RFC 5322 parser (email's header parser: ~0.4 ms a command, the largest
        cost of a transaction in the main process), which gives the same answer for the simple form."""
        match = _SIMPLE_PATH.match(arg)
        if match is not None:
            rest = arg[match.end():].lstrip(" \t")
            local = match.group(1)
            if not rest.startswith("(") and not (self.local_part_limit and len(local) > self.local_part_limit):
                return f"{local}@{match.group(2)}", rest
        return super()._getaddr(arg)

    @syntax("XFORWARD attribute=value ...")
    async def smtp_XFORWARD(self, arg: str) -> None:
        """Postfix's XFORWARD (after-queue content filter): the original client behind the MTA.

        Without it every message would seem to come from Postfix on loopback: direction, SPF and the
        hold-this-host emergency switch need the real client. Only a trusted peer may send it; the
        attributes hold for the current transaction (aiosmtpd makes a new envelope after RSET/DATA).
        """
        peer = self.session.peer[0] if isinstance(self.session.peer, tuple) else None
        if not self.event_handler.rules.is_trusted_client(peer):
            await self.push("550 5.7.0 XFORWARD is accepted from trusted clients only")
            return
        if not arg:
            await self.push("501 5.5.4 Syntax: XFORWARD attribute=value ...")
            return
        attributes = getattr(self.envelope, "xforward", None) or {}
        for item in arg.split():
            name, _, value = item.partition("=")
            value = xtext_decode(value)
            if name.upper() in _XFORWARD_NAMES and value and value not in ("[UNAVAILABLE]", "[TEMPUNAVAIL]"):
                attributes[name.upper()] = value
        self.envelope.xforward = attributes
        await self.push("250 2.0.0 Ok")


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_PATH = re.compile(rf"[ \t]*<({_ATOM}(?:\.{_ATOM})*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>")
_XFORWARD_NAMES = frozenset({"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE", "LOGIN"})


def xtext_decode(value: str) -> str:
    """RFC 3461 xtext: "+HH" stands for the byte HH."""
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


class Gateway:
    def __init__(
        self,
        settings,
        *,
        smtp_listen: str | None = None,
        next_hop: str | None = None,
        node_id: str | None = None,
        process_index: int = 0,
        reuse_port: bool = False,
    ) -> None:
        self.settings = with_ppap_policy(settings)  # holds unopenable archives for their password mail
        self.config = GatewayConfig.from_settings(settings)
        if smtp_listen:
            self.config.smtp.listen = smtp_listen
        if next_hop:
            self.config.delivery.next_hop = next_hop
        self.home = Path(settings.home)
        # gethostname, not getfqdn: no DNS lookup at start (set [smtp] hostname to the public MX name).
        self.hostname = self.config.smtp.hostname or socket.gethostname()
        self.stores: Stores | None = None
        self.scans: ScanPool | None = None
        self.queue: DeliveryQueue | None = None
        self.spool: Spool | None = None
        self.rules: DirectionRules | None = None
        self._server: asyncio.base_events.Server | None = None
        self.ppap: PpapWatcher | None = None
        self.retro = None  # respond.retrojobs.BackgroundRetro: retro-scans the retained mail when the rules change
        self.rule_version = ""  # of the rules the scan pool uses (receive/rules_reload.py)
        # `serve --processes N` (receive/supervisor.py): which acceptor this is (its spool folder), and
        # whether its listener shares the port with the others (SO_REUSEPORT).
        self.process_index, self.reuse_port = process_index, reuse_port
        self.node_id = node_id  # cluster: this node's id on a shared PostgreSQL (default [cluster] node_id or host name)
        self.nodes = None  # cluster: store.nodes.NodeRegistry (heartbeat) in PostgreSQL mode

    @property
    def address(self) -> tuple[str, int]:
        """Where the listener is bound (the real port when the config asked for port 0)."""
        return self._server.sockets[0].getsockname()[:2]

    def transport(self) -> Transport:
        hop = self.config.delivery.next_hop
        if hop == "maildir":
            return MaildirRelay(self.home / self.config.delivery.maildir)
        if hop.startswith("lmtp:"):  # straight into the mail store, e.g. Dovecot (receive/lmtp.py)
            from kakuri.receive.lmtp import LmtpRelay

            host, port = parse_host_port(hop[len("lmtp:"):], default_port=24)
            return LmtpRelay(host, port, timeout_seconds=self.config.delivery.timeout_seconds, lhlo=self.hostname)
        host, port = parse_host_port(hop)
        return SmtpRelay(host, port, timeout_seconds=self.config.delivery.timeout_seconds, helo=self.hostname)

    async def start(self) -> None:
        smtp, spool_cfg = self.config.smtp, self.config.spool
        self.stores = await asyncio.to_thread(open_stores, self.settings)
        self.spool = await self._open_spool()
        self.scans = await asyncio.to_thread(ScanPool, self.settings, workers=smtp.scan_workers, mode=smtp.scan_pool)
        await self.scans.warm_up()
        self.queue = DeliveryQueue(
            spool=self.spool,
            stores=self.stores,
            scans=self.scans,
            transport=self.transport(),
            config=self.config.delivery,
            hostname=self.hostname,
            poll_seconds=spool_cfg.poll_seconds,
        )
        self.ppap = PpapWatcher(settings=self.settings, stores=self.stores, spool=self.spool, submit=self.queue.submit)
        self.queue.ppap = self.ppap if self.ppap.enabled else None
        self.queue.retention = Retention.from_settings(self.settings, engine=self.stores.engine)  # None when disabled
        await self.ppap.start()
        await self.queue.start()
        await asyncio.to_thread(self._start_retro)
        self.rules = DirectionRules(  # also used by the milter listener (receive/milter) beside this gateway
            our_domains=await asyncio.to_thread(self._our_domains),
            internal_networks=self.settings.org.internal_networks,
        )
        handler = GatewayHandler(
            spool=self.spool,
            queue=self.queue,
            scans=self.scans,
            stores=self.stores,
            rules=self.rules,
            max_recipients=smtp.max_recipients,
            relay_check=smtp.relay_check,
            scan_timeout_seconds=smtp.scan_inline_timeout_seconds,
        )
        host, port = parse_host_port(smtp.listen, default_port=25)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._protocol(handler), host=host, port=port, reuse_port=self.reuse_port or None
        )
        log.info("kakuri gateway listening on %s:%s", *self.address)

    async def _open_spool(self):
        """cluster: the folder spool, or on PostgreSQL the shared spool of this node (registered first, so
        that no other node takes its entries for a dead node's)."""
        spool_cfg = self.config.spool
        limits = dict(max_bytes=spool_cfg.max_bytes, max_age_seconds=spool_cfg.max_age_seconds)
        if self.stores.engine.dialect.name != "postgresql":
            folder = process_folder(self.home / spool_cfg.dir, self.process_index)
            return await asyncio.to_thread(Spool, folder, **limits, owner=True)  # waits for a previous owner
        from concurrent.futures import ThreadPoolExecutor

        from kakuri.receive.shared_spool import SHARED_SPOOL_THREADS, spool_for
        from kakuri.store.nodes import ClusterConfig, NodeRegistry, node_id_for

        # Every spool step is now a round trip to the database, each holding a thread of the default pool while
        # it waits (min(32, cores + 4) = 6 threads here): more threads, or deliveries queue behind accepts.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(SHARED_SPOOL_THREADS, thread_name_prefix="db"))
        self.node_id = self.node_id or node_id_for(self.settings)
        cluster = ClusterConfig.from_settings(self.settings)
        self.nodes = NodeRegistry(self.stores.engine, self.node_id, heartbeat_seconds=cluster.heartbeat_seconds,
                                  lease_seconds=cluster.lease_seconds, queue_size=lambda: len(self.spool.queue_ids()))
        await self.nodes.start()
        return await asyncio.to_thread(spool_for, self.settings, engine=self.stores.engine, node_id=self.node_id,
                                       **limits)

    def _start_retro(self) -> None:
        """A retained window last judged under other rules (new release, rules changed while stopped) is judged
        again in the background (respond/retrojobs.py)."""
        from kakuri.receive.rules_reload import RulesState, write_rules_state
        from kakuri.respond.retrojobs import BackgroundRetro
        from kakuri.respond.retroscan import rule_version

        self.rule_version = rule_version(self.settings)
        write_rules_state(self.home, RulesState(self.rule_version, ""))  # what `kakuri rules reload` compares with
        if self.queue.retention is not None:  # retained mail is judged clean under it at delivery
            self.queue.retention.rule_version = self.rule_version
        self.retro = BackgroundRetro(self.settings, self.stores)
        if self.process_index == 0:  # one background retro-scan per node, not one per acceptor process
            self.retro.check(why="gateway start")

    def _our_domains(self) -> list[str]:
        """[org] our_domains plus those recorded with `kakuri init --domain`."""
        from sqlalchemy import select

        from kakuri.store.knowledge_tables import KnownDomain

        with self.stores.sessions() as session:
            recorded = session.scalars(select(KnownDomain.domain).where(KnownDomain.kind == "ours")).all()
        return sorted({*self.settings.org.our_domains, *recorded})

    def _protocol(self, handler: GatewayHandler) -> SMTP:
        smtp = self.config.smtp
        return _SMTP(
            handler,
            hostname=self.hostname,
            ident="kakuri",
            data_size_limit=smtp.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=self._tls_context(),
            require_starttls=False,
            auth_required=False,
            auth_require_tls=True,
            authenticator=self._authenticate if smtp.auth_users else None,
            timeout=smtp.session_timeout_seconds,
            # Command floods (NOOP, VRFY, HELO ...) end the session instead of tying up a connection. The
            # limits count per session, and MTAs send many messages over one connection: the
            # transaction commands get room for 10,000 messages.
            command_call_limit={
                **dict.fromkeys(("MAIL", "DATA", "RSET"), 10_000),
                "RCPT": 10_000 + smtp.max_recipients,
                "*": 1000,
            },
        )

    def _tls_context(self) -> ssl.SSLContext | None:
        smtp = self.config.smtp
        if not (smtp.tls_cert and smtp.tls_key):
            return None
        if not hasattr(self, "_ssl"):
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(self.home / smtp.tls_cert, self.home / smtp.tls_key)
        return self._ssl

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        from argon2 import PasswordHasher
        from argon2.exceptions import InvalidHashError, VerificationError

        login = getattr(auth_data, "login", b"") or b""
        password = getattr(auth_data, "password", b"") or b""
        stored = self.config.smtp.auth_users.get(login.decode("utf-8", "replace"))
        if stored is None:
            return AuthResult(success=False, handled=False)
        try:
            PasswordHasher().verify(stored, password)
        except (VerificationError, InvalidHashError):
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data)

    async def release(self, *, queue_id: str, actor: str, reason: str = ""):
        """Release a kept message through this gateway's delivery (audited); returns the message record."""
        from kakuri.act.release import release_message

        message = await asyncio.to_thread(
            release_message, stores=self.stores, spool=self.spool, queue_id=queue_id, actor=actor, reason=reason
        )
        self.queue.submit(queue_id)
        return message

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.ppap is not None:
            await self.ppap.stop()
        if self.retro is not None:
            await asyncio.to_thread(self.retro.stop)
        if self.queue is not None:
            await self.queue.stop()
        if self.scans is not None:
            self.scans.close()
        if self.nodes is not None:  # cluster: the entries left go to the other nodes at once
            await asyncio.to_thread(self.spool.release_all)
            self.spool.close()
            await self.nodes.stop()
        elif isinstance(self.spool, Spool):
            self.spool.close()  # the folder's lock: a restarted or other process may own it now
        if self.stores is not None:
            self.stores.close()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
