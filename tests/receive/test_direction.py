"""Direction of mail, and who may relay."""

from kakuri.model.envelope import Direction
from kakuri.receive.direction import DirectionRules

RULES = DirectionRules(our_domains=["tokai-keiki.example"], internal_networks=["10.0.0.0/8"])


def classify(mail_from, rcpts, ip, user=None):
    return RULES.classify(mail_from=mail_from, rcpt_tos=rcpts, client_ip=ip, auth_user=user)


def test_outside_sender_is_inbound_even_through_our_own_relay():
    assert classify("x@partner.example", ["a@tokai-keiki.example"], "10.1.1.1")[0] is Direction.INBOUND
    assert classify("x@partner.example", ["a@tokai-keiki.example"], "203.0.113.5")[0] is Direction.INBOUND


def test_our_pc_writing_outside_is_outbound_per_recipient():
    direction, per_rcpt = classify("a@tokai-keiki.example", ["b@tokai-keiki.example", "c@partner.example"], "10.2.3.4")
    assert direction is Direction.OUTBOUND
    assert per_rcpt == {"b@tokai-keiki.example": Direction.INTERNAL, "c@partner.example": Direction.OUTBOUND}


def test_forged_our_domain_from_outside_stays_inbound():
    assert classify("ceo@tokai-keiki.example", ["a@tokai-keiki.example"], "198.51.100.7")[0] is Direction.INBOUND


def test_authenticated_user_counts_as_ours_and_may_relay():
    assert classify("a@tokai-keiki.example", ["z@partner.example"], "198.51.100.7", user="a")[0] is Direction.OUTBOUND
    assert RULES.may_relay("z@partner.example", client_ip="198.51.100.7", auth_user="a")


def test_outside_client_may_not_relay_to_outside_domains():
    assert not RULES.may_relay("z@partner.example", client_ip="198.51.100.7", auth_user=None)
    assert RULES.may_relay("a@sub.tokai-keiki.example", client_ip="198.51.100.7", auth_user=None)
    assert RULES.may_relay("z@partner.example", client_ip="::ffff:10.0.0.9", auth_user=None)
