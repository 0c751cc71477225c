"""Boolean expressions over symbols, as rspamd composites write them.

Grammar: `A & (B | g:office) & !C`. A bare name is a symbol, `g:NAME` is "any symbol of that group",
`*` is always true (for overrides that apply to every message, e.g. "hold all outbound mail").
Hand-written because it is twenty lines and no library offers exactly this small language.
"""

from __future__ import annotations

import functools
import re
from typing import Callable, Collection

Predicate = Callable[[Collection[str], Collection[str]], bool]  # (symbols, groups) -> bool

_TOKEN = re.compile(r"\s*(?:(g:[A-Za-z0-9_]+)|([A-Z0-9_]+)|([&|!()*]))")


class ExpressionError(ValueError):
    pass


@functools.lru_cache(maxsize=1024)
def compile_expression(text: str) -> Predicate:
    tokens = _tokenize(text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def parse_or() -> Predicate:
        left = parse_and()
        while peek() == "|":
            take()
            left = (lambda a, b: lambda s, g: a(s, g) or b(s, g))(left, parse_and())
        return left

    def parse_and() -> Predicate:
        left = parse_not()
        while peek() == "&":
            take()
            left = (lambda a, b: lambda s, g: a(s, g) and b(s, g))(left, parse_not())
        return left

    def parse_not() -> Predicate:
        if peek() == "!":
            take()
            inner = parse_not()
            return lambda s, g: not inner(s, g)
        return parse_atom()

    def parse_atom() -> Predicate:
        token = peek()
        if token is None:
            raise ExpressionError(f"unexpected end of expression: {text!r}")
        take()
        if token == "(":
            inner = parse_or()
            if peek() != ")":
                raise ExpressionError(f"missing ')' in {text!r}")
            take()
            return inner
        if token == "*":
            return lambda s, g: True
        if token.startswith("g:"):
            group = token[2:]
            return lambda s, g: group in g
        if token in "&|!)":
            raise ExpressionError(f"unexpected {token!r} in {text!r}")
        return lambda s, g: token in s

    result = parse_or()
    if pos != len(tokens):
        raise ExpressionError(f"unexpected {tokens[pos]!r} in {text!r}")
    return result


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"cannot read {text[pos:]!r} in {text!r} (symbols are UPPER_SNAKE, groups g:name)")
        tokens.append(next(g for g in match.groups() if g))
        pos = match.end()
    return tokens
