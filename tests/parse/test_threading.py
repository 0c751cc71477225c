import pytest

from kakuri.parse.threading import (
    has_quoted_conversation,
    is_forward_subject,
    is_reply_subject,
    normalise_subject,
)


@pytest.mark.parametrize(
    "subject",
    [
        "RE: 見積依頼の件",
        "Re: re: 見積依頼の件",
        "Ｒｅ：　見積依頼の件",
        "返信: 見積依頼の件",
        "AW: WG: 見積依頼の件",
        "SV: 見積依頼の件",
        "[ml:0123] Re: 見積依頼の件",
        "Fwd: 見積依頼の件",
        "転送: 見積依頼の件",
        "Re[2]: 見積依頼の件",
    ],
)
def test_reply_and_forward_prefixes_and_tags_are_stripped(subject):
    assert normalise_subject(subject) == "見積依頼の件"


def test_brackets_that_are_part_of_the_title_are_kept():
    assert normalise_subject("RE: 【見積依頼】制御盤 8台") == "【見積依頼】制御盤 8台"


def test_reply_and_forward_are_told_apart():
    assert is_reply_subject("RE: x") and not is_forward_subject("RE: x")
    assert is_forward_subject("FW: x") and not is_reply_subject("FW: x")
    assert not is_reply_subject("Report: Q3")  # "Re" must be a prefix word, not a prefix of a word


def test_quoted_conversations_are_recognised():
    assert has_quoted_conversation("Thanks\n\nOn 2020/06/23 19:07, Sato wrote:\n> hello")
    assert has_quoted_conversation("了解です\n\n-----Original Message-----\n差出人: a")
    assert has_quoted_conversation("> quoted line")
    assert not has_quoted_conversation("Hello,\nplease find the invoice attached.")
