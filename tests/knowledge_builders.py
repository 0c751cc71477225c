"""A small organisation built in code: directory, one history thread, contact graph (no database)."""

from __future__ import annotations

from kakuri.model.knowledge import Person
from kakuri.store.knowledge_index import KnowledgeIndex

OURS = ("kitaboshi.example", "kb-trading.example")
STAFF = (
    Person("佐々木 恵", "megumi.sasaki@kitaboshi.example", "staff", ("Megumi Sasaki",)),
    Person("大川 誠", "makoto.okawa@kitaboshi.example", "staff", ("Makoto Okawa",)),
    Person("情報システム部", "it-support@kitaboshi.example", "staff", ("IT Support Desk",)),
    Person("上田 翔", "sho.ueda@kb-trading.example", "staff", ("Sho Ueda",)),
)
PARTNERS = (
    Person("森田 浩二", "k-morita@hoshizora-denki.example", "partner", ("Koji Morita",), "星空電機"),
    Person("Emily Stone", "estone@northwind.example.com", "partner", (), "Northwind"),
)
THREAD_SUBJECT = "見積依頼の件（型番 X-100）"
THREAD_IDS = ("t1a@hoshizora-denki.example", "t1b@kitaboshi.example")
# Not in the directory, but a long-standing correspondent who happens to share a colleague's name.
NAMESAKE = "sasaki@yamabiko-design.example"


def org_knowledge() -> KnowledgeIndex:
    index = KnowledgeIndex(our_domains=OURS)
    for person in STAFF + PARTNERS:
        index.add_person(person)
    t0 = 1_590_000_000.0
    index.add_message(
        message_id=THREAD_IDS[0],
        references=[],
        subject=THREAD_SUBJECT,
        participants=["k-morita@hoshizora-denki.example", "megumi.sasaki@kitaboshi.example"],
        when=t0,
    )
    index.add_message(
        message_id=THREAD_IDS[1],
        references=[THREAD_IDS[0]],
        subject="RE: " + THREAD_SUBJECT,
        participants=["megumi.sasaki@kitaboshi.example", "k-morita@hoshizora-denki.example"],
        when=t0 + 3600,
    )
    index.add_contact("k-morita@hoshizora-denki.example", "megumi.sasaki@kitaboshi.example")
    index.add_contact("megumi.sasaki@kitaboshi.example", "k-morita@hoshizora-denki.example")
    index.add_contact(NAMESAKE, "makoto.okawa@kitaboshi.example")
    index.add_contact("makoto.okawa@kitaboshi.example", NAMESAKE)
    index.add_contact("estone@northwind.example.com", "sho.ueda@kb-trading.example")
    return index
