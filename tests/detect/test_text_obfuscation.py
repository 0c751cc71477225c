"""Disguised words: look-alike letters of another script, letter-spaced names, invisible characters."""

from __future__ import annotations

import pytest

from kakuri.detect.base import ScanContext
from kakuri.detect.text_obfuscation import TextObfuscation
from kakuri.parse.mime import parse_message
from tests.builders import make_message


def symbols(**kwargs) -> set[str]:
    message = parse_message(make_message(**kwargs))
    return {f.symbol for f in TextObfuscation().check(message, ScanContext())}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"from_": "Micr\u043esoft Account <alerts@mail.example.net>"}, {"OBFUSCATED_MIXED_SCRIPT_HEADER"}),
        ({"subject": "Your P\u0430yP\u0430l wallet is locked"}, {"OBFUSCATED_MIXED_SCRIPT_HEADER"}),
        ({"body": "Dear client, your \u0430ccount is susp\u0435nded. Please v\u0435rify today."}, {"OBFUSCATED_MIXED_SCRIPT_BODY"}),
        ({"from_": '"W a l l e t S u p p o r t" <x@mail.example.net>'}, {"OBFUSCATED_SPACED_LETTERS"}),
        ({"subject": "Net\u200bflix: payment declined"}, {"OBFUSCATED_INVISIBLE_HEADER"}),
        ({"body": "Conf\u00adirm your pass\u200bword to keep your acc\u200dount."}, {"OBFUSCATED_INVISIBLE_BODY"}),
    ],
)
def test_disguised_words_are_found(kwargs, expected):
    assert symbols(**kwargs) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subject": "Отчёт о продажах за март", "body": "Добрый день! Высылаю отчёт. Spasibo, Ivan"},  # Russian in its own script
        {"body": "The β-lactamase and α-helix results are in the attached PDF; see Table 2."},  # Greek in science
        {"body": "Spring sale \u200c\u00a0\u200c\u00a0\u200c\u00a0 up to 30% off"},  # pre-header padding between words
        {"from_": "U S A Today <news@usatoday.example>", "subject": "Top stories"},  # short spaced initials
        {"subject": "東海計器 見積書の件", "body": "お世話になっております。見積書をお送りします。"},
    ],
)
def test_honest_text_is_left_alone(kwargs):
    assert symbols(**kwargs) == set()
