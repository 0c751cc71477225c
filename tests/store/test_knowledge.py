import pytest

from kakuri.model import Envelope
from kakuri.model.knowledge import Person
from kakuri.parse.mime import parse_message
from kakuri.store.knowledge import load_knowledge
from kakuri.store.thread_passwords import ThreadPasswords
from tests.builders import make_message

DATE = "Tue, 01 Sep 2020 10:00:00 +0900"
LATER = "Tue, 01 Sep 2020 10:05:00 +0900"
NEXT_WEEK = "Tue, 08 Sep 2020 10:05:00 +0900"


@pytest.fixture
def store(settings):
    settings.org.our_domains = ["kitaboshi.example"]
    return load_knowledge(settings)


def _mail(from_, to, subject, mid, *, refs=(), body="よろしくお願いします。", date=DATE, cc=None):
    headers = {}
    if refs:
        headers["In-Reply-To"] = f"<{refs[-1]}>"
        headers["References"] = " ".join(f"<{r}>" for r in refs)
    if cc:
        headers["Cc"] = cc
    raw = make_message(from_=from_, to=to, subject=subject, message_id=f"<{mid}>", body=body, headers=headers)
    return parse_message(raw.replace(b"Tue, 01 Sep 2020 00:00:00 -0000", date.encode(), 1))


def test_learned_threads_and_contacts_survive_a_reload(settings, store):
    first = _mail("k-morita@hoshizora-denki.example", "megumi.sasaki@kitaboshi.example", "見積依頼", "a1@h.example")
    reply = _mail(
        "megumi.sasaki@kitaboshi.example",
        "k-morita@hoshizora-denki.example",
        "RE: 見積依頼",
        "a2@k.example",
        refs=["a1@h.example"],
        cc="sho.ueda@kitaboshi.example",
    )
    assert store.record_many([(first, None), (reply, None)]) == 2
    assert store.record(first) is False  # already known: learning twice changes nothing

    reloaded = load_knowledge(settings)
    thread = reloaded.thread_by_reference(["a2@k.example"])
    assert thread.subject == "見積依頼"
    assert thread.participants == {
        "k-morita@hoshizora-denki.example",
        "megumi.sasaki@kitaboshi.example",
        "sho.ueda@kitaboshi.example",
    }
    assert [t.thread_id for t in reloaded.threads_by_subject("Re: 見積依頼")] == [thread.thread_id]
    assert reloaded.is_known_contact("k-morita@hoshizora-denki.example")
    assert not reloaded.is_known_contact("stranger@elsewhere.test")
    assert reloaded.contact("megumi.sasaki@kitaboshi.example", "k-morita@hoshizora-denki.example")[0] == 1
    later = _mail(
        "megumi.sasaki@kitaboshi.example",
        "k-morita@hoshizora-denki.example",
        "RE: 見積依頼",
        "a3@k.example",
        refs=["a1@h.example", "a2@k.example"],
        date=NEXT_WEEK,
    )
    load_knowledge(settings).record(later)  # another process adds to the same counts
    store.record(_mail("megumi.sasaki@kitaboshi.example", "k-morita@hoshizora-denki.example", "x", "a4@k.example"))
    messages, first, last = store.contact("megumi.sasaki@kitaboshi.example", "k-morita@hoshizora-denki.example")
    assert messages == 3 and last - first == 7 * 24 * 3600 + 300


def test_threads_joined_by_a_later_message_are_merged(store):
    store.record(_mail("a@p.example", "m@kitaboshi.example", "x", "m1@p.example"))
    store.record(_mail("b@q.example", "m@kitaboshi.example", "y", "m2@q.example"))
    refs = ["m1@p.example", "m2@q.example"]
    store.record(_mail("m@kitaboshi.example", "a@p.example", "RE: x", "m3@k.example", refs=refs))
    assert store.thread_by_reference(["m1@p.example"]) == store.thread_by_reference(["m2@q.example"])
    assert store.thread_count() == 1


def test_directory_import_is_written_through(settings, store):
    store.import_people([Person("森田 浩二", "k-morita@hoshizora-denki.example", "partner", ("Koji Morita",))])
    reloaded = load_knowledge(settings)
    assert [p.email for p in reloaded.people_named("MORITA Koji")] == ["k-morita@hoshizora-denki.example"]
    assert reloaded.is_partner_domain("hoshizora-denki.example")


def test_password_mail_of_the_same_sender_and_audience_opens_the_archive(store):
    zip_mail = _mail("k@p.example", "m@kitaboshi.example", "請求書送付の件", "z1@p.example")
    password_mail = _mail(
        "k@p.example", "m@kitaboshi.example", "パスワードのお知らせ", "z2@p.example",
        body="パスワード：Xy7-pq2z", date=LATER,
    )
    source = ThreadPasswords(store)
    assert "Xy7-pq2z" not in source.passwords(zip_mail, Envelope())
    store.record(password_mail)
    assert source.passwords(zip_mail, Envelope())[0] == "Xy7-pq2z"
    other_audience = _mail("k@p.example", "someone@kitaboshi.example", "別件", "z3@p.example")
    assert "Xy7-pq2z" not in source.passwords(other_audience, Envelope())
    stale = _mail("k@p.example", "m@kitaboshi.example", "請求書送付の件", "z4@p.example", date=NEXT_WEEK)
    assert "Xy7-pq2z" not in source.passwords(stale, Envelope())


def test_password_mail_in_the_same_thread_counts_whoever_is_addressed(store):
    zip_mail = _mail("k@p.example", "m@kitaboshi.example", "RE: 図面", "y2@p.example", refs=["y1@k.example"])
    store.record(_mail("m@kitaboshi.example", "k@p.example", "図面", "y1@k.example"))
    store.record(
        _mail("k@p.example", "boss@kitaboshi.example", "RE: 図面", "y3@p.example", refs=["y1@k.example"],
              body="解凍パスワードは「q9w8e7」です。", date=LATER)
    )
    assert "q9w8e7" in ThreadPasswords(store).passwords(zip_mail, Envelope())


def test_held_archive_is_found_when_its_password_mail_arrives(settings, store):
    zip_mail = _mail("k@p.example", "m@kitaboshi.example", "請求書送付の件", "w1@p.example")
    store.hold_encrypted("queue-42", zip_mail, Envelope(rcpt_tos=("m@kitaboshi.example",)))
    password_mail = _mail("k@p.example", "m@kitaboshi.example", "パスワード", "w2@p.example", body="PW: abc123")
    reloaded = load_knowledge(settings)  # the held key survives a restart
    assert reloaded.pending_for(password_mail) == ["queue-42"]
    assert reloaded.pending_for(_mail("x@q.example", "n@kitaboshi.example", "hi", "w3@q.example")) == []
    reloaded.release_pending("queue-42")
    assert load_knowledge(settings).pending_for(password_mail) == []


def test_message_recorded_by_another_node_does_not_lose_the_batch(settings, store):
    first = _mail("a@p.example", "m@kitaboshi.example", "x", "n1@p.example")
    other_node = load_knowledge(settings)
    other_node.record(first)
    second = _mail("b@p.example", "m@kitaboshi.example", "y", "n2@p.example")
    store.record_many([(first, None), (second, None)])  # this node has not seen n1 yet
    reloaded = load_knowledge(settings)
    assert reloaded.has_message("n1@p.example") and reloaded.has_message("n2@p.example")
    assert store.contact("a@p.example", "m@kitaboshi.example")[0] == 1  # counted once, by the node that stored it


def test_refresh_picks_up_what_another_process_stored(settings, store):
    worker = load_knowledge(settings)
    store.record(_mail("k@p.example", "m@kitaboshi.example", "見積", "r1@p.example"))
    store.import_people([Person("森田 浩二", "k-morita@hoshizora-denki.example", "partner")])
    store.hold_encrypted("q-1", _mail("k@p.example", "m@kitaboshi.example", "zip", "r2@p.example"))
    assert worker.thread_by_reference(["r1@p.example"]) is None
    assert worker.refresh() == 1
    assert worker.thread_by_reference(["r1@p.example"]).participants == {"k@p.example", "m@kitaboshi.example"}
    assert worker.is_known_contact("k@p.example")
    assert worker.people_named("森田浩二")
    assert worker.pending_for(_mail("k@p.example", "m@kitaboshi.example", "pw", "r3@p.example")) == ["q-1"]
    assert worker.refresh() == 0
