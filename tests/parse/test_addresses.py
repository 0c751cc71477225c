from email.header import Header

from kakuri.parse.addresses import (
    domain_of,
    mailboxes_from_raw,
    name_keys,
    organisation_of,
    registrable_domain,
    sender_of,
)
from kakuri.parse.mime import parse_message
from tests.builders import make_message


def _same_person(a: str, b: str) -> bool:
    return bool(name_keys(a) & name_keys(b))


def test_japanese_name_matches_with_or_without_space_width_and_honorific():
    assert _same_person("杉山 花子", "杉山花子")
    assert _same_person("杉山 花子", "杉山　花子 様")
    assert _same_person("杉山 花子", "花子 杉山")


def test_romaji_matches_across_order_case_width_and_long_vowels():
    assert _same_person("Hanako Sugiyama", "SUGIYAMA, Hanako")
    assert _same_person("Hanako Sugiyama", "Ｈａｎａｋｏ　Ｓｕｇｉｙａｍａ")
    assert _same_person("Ichiro Sato", "Satou Ichirou")
    assert _same_person("Ichiro Sato", "Satoh Ichiro san")


def test_different_people_and_lone_surnames_do_not_match():
    assert not _same_person("杉山 花子", "杉山 直樹")
    assert name_keys("Tanaka") == set()
    assert name_keys("") == set()


def test_name_in_brackets_after_an_address_is_still_read():
    assert _same_person("n-tanaka@partner.example (田中 直樹)", "田中 直樹")
    assert _same_person("田中 直樹（関西電機）", "田中直樹")


def test_encoded_display_name_cannot_supply_the_address():
    forged = Header("中山 直美 <nakayama@partner.example>", "iso-2022-jp").encode(maxlinelen=998).encode()
    raw = make_message(from_="Placeholder <soft75@attacker.test>").replace(b"Placeholder", forged)
    name, address = sender_of(parse_message(raw))
    assert address == "soft75@attacker.test"
    assert "nakayama@partner.example" in name


def test_mailboxes_from_raw_decodes_names_after_splitting():
    pairs = mailboxes_from_raw('"Sato, Ichiro" <I.Sato@Example.co.jp>, =?utf-8?b?5p2J5bGx?= <s@x.example>')
    assert pairs == (("Sato, Ichiro", "i.sato@example.co.jp"), ("杉山", "s@x.example"))


def test_registrable_domain_uses_public_suffixes_and_reserved_names():
    assert registrable_domain("mail.sub.partner.co.jp") == "partner.co.jp"
    assert registrable_domain("smtp.cheap-hosting.example.net") == "cheap-hosting.example.net"
    assert organisation_of("a@mail.tokai-keiki.example") == "tokai-keiki.example"
    assert domain_of("A@B.Example.") == "b.example"
    assert domain_of("no-at-sign") == ""
