"""kakuri as a Postfix milter (`smtpd_milters`): scan during the SMTP transaction, answer before Postfix does.

Why our own protocol code: pymilter needs the C libmilter; purepythonmilter (0.0.1, alpha, one release in
2023) cannot carry state across protocol phases, which a content scanner needs (envelope + headers + body
at end of message); kilter.protocol is marked "planning". The subset Postfix uses is small and stable
(libmilter's mfdef.h, protocol version 6): `protocol.py` is the codec, `session.py` one connection,
`server.py` the listener and the verdict -> answer mapping.
"""
