"""Reading the DATA of an SMTP transaction in large chunks instead of one `await` per line.

aiosmtpd reads message data line by line (one `readuntil` and a Python loop turn per line). At
gateway load that loop was the largest single cost of the event loop (a 50 kB message has ~700
lines). `FastDataSMTP.smtp_DATA` reads up to the end-of-data marker with `readuntil(b"\\r\\n.\\r\\n")`,
taking the stream in chunks of at most the line limit when the marker is further away, and keeps
aiosmtpd's rules exactly:

- the data ends at the first line that is exactly "." followed by CRLF (a bare LF never ends a line:
  "\\n.\\n" stays message text, against SMTP smuggling); nothing after the marker is read, so
  pipelined commands stay in the stream for the command loop;
- a line longer than `line_length_limit` gives 500, more than `data_size_limit` bytes give 552, both
  after the whole data has been read, and the data is not buffered once over either limit;
- a leading dot is removed from every line (RFC 5321 4.5.2 transparency).
The rest of the command (hooks, replies, state) is aiosmtpd's own code path.
"""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.smtp import MISSING, SMTP

log = logging.getLogger(__name__)

END = b"\r\n.\r\n"  # end of data, with the line end before the dot


class FastDataSMTP(SMTP):
    async def smtp_DATA(self, arg: str) -> None:
        if self._decode_data:  # text mode (not the gateway's): aiosmtpd's own reader decodes as it goes
            return await super().smtp_DATA(arg)
        # Checks and replies as in aiosmtpd.smtp.SMTP.smtp_DATA (1.4).
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            state, content = await self._read_data()
        except asyncio.CancelledError:
            log.info("Connection lost during DATA")
            self._writer.close()
            raise
        if state == "too_long":
            await self.push("500 Line too long (see RFC5321 4.5.3.1.6)")
            self._set_post_data_state()
            return
        if state == "too_much":
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()
            return
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA") if "DATA" in self._handle_hooks else MISSING
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> tuple[str, bytes]:
        """("ok" | "too_long" | "too_much", the unstuffed message bytes); reads through the end marker."""
        reader = self._reader
        # The line before the data (the DATA command) ended with CRLF: searching b"\r\n" + data for
        # END finds a "." line at the very start too. Until the bytes read so far cannot end in a part
        # of END, read only as many as END needs: never past the marker.
        text = bytearray(b"\r\n")
        while True:
            if END in text:
                return self._finish(text, text.index(END))
            part = _partial_end(text)
            if not part:
                break
            text += await reader.readexactly(len(END) - part)
        size_limit, line_limit = self.data_size_limit, self.line_length_limit
        line_start = text.rfind(b"\r\n") + 2  # where the line being read starts
        state = "ok"
        while True:
            try:
                chunk = await reader.readuntil(END)
                done = True
            except asyncio.LimitOverrunError as exc:  # marker not within the stream limit: take a chunk
                chunk = await reader.read(exc.consumed)
                done = False
            if state == "ok":
                text += chunk
                # The lines completed by this chunk (and the one still open), split at C speed.
                lines = text[line_start:].split(b"\r\n")
                line_start = len(text) - len(lines[-1])
                if size_limit and len(text) - 2 - 3 > size_limit:
                    state = "too_much"  # aiosmtpd counts the line bytes before the final "."
                elif max(map(len, lines)) + 2 > line_limit:
                    state = "too_long"
                if state != "ok":
                    text = bytearray()  # read on to the marker, keeping nothing
            if done:
                break
        if state != "ok":
            return state, b""
        return self._finish(text, len(text) - len(END))

    def _finish(self, text: bytearray, end: int) -> tuple[str, bytes]:
        # text = CRLF + data lines + the end marker; `end` is where the marker starts. Every line,
        # including the first, starts after a CRLF, so one replace undoes the dot-stuffing.
        if self.data_size_limit and end > self.data_size_limit:
            return "too_much", b""
        return "ok", bytes(text[: end + 2]).replace(b"\r\n.", b"\r\n")[2:]


def _partial_end(text: bytearray) -> int:
    """Length of the longest proper prefix of END that `text` ends with (0 when none)."""
    for size in range(len(END) - 1, 0, -1):
        if text.endswith(END[:size]):
            return size
    return 0

