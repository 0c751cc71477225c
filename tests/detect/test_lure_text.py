"""Lure wording: lures built here in EN/JA/PT, and honest mail that uses some of the same words."""

import pytest

from kakuri.decide.policy import load_policy
from kakuri.decide.scoring import score_findings
from kakuri.detect.base import ScanContext
from kakuri.detect.lure_text import LurePhrases, LureText, find_phones, fold_text
from kakuri.model import Action, Direction
from kakuri.model.knowledge import StaticKnowledge
from kakuri.parse.mime import parse_message
from tests.builders import make_message


@pytest.fixture(scope="module")
def detector():
    return LureText()


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _check(detector, ctx=None, **message):
    parsed = parse_message(make_message(**message))
    return list(detector.check(parsed, ctx or ScanContext()))


def _symbols(findings) -> dict[str, dict]:
    return {f.symbol: dict(f.evidence) for f in findings}


def _action(findings, policy) -> Action:
    groups = {spec.name: spec.group for spec in LureText.symbols}
    return score_findings(findings, policy, Direction.INBOUND, groups).action


def test_english_credential_lure_with_suspension_and_deadline_is_tagged(detector, policy):
    findings = _check(
        detector,
        from_="Account Service <no-reply@mailer-7.test>",
        to="Bob <bob@victim.test>",
        subject="Action required: unusual sign-in activity",
        body="Dear customer,\nWe detected unusual sign-in activity and your account has been temporarily suspended.\n"
        "Please verify your account within 24 hours or it will be permanently deleted.\n"
        "Verify now: https://secure-login.test/verify\n",
    )
    found = _symbols(findings)
    assert {"LURE_CREDENTIALS", "LURE_ACCOUNT_SUSPENDED", "LURE_URGENCY"} <= set(found)
    assert "verify your account" in found["LURE_CREDENTIALS"]["phrases"]
    assert "within 24 hours" in found["LURE_URGENCY"]["phrases"]
    # wording alone is what the real brand's notice says too: a tag; the link and sender families decide
    assert _action(findings, policy) == Action.TAG


def test_japanese_account_lure_is_tagged(detector, policy):
    findings = _check(
        detector,
        from_="サポートセンター <info@notice-center.test>",
        subject="【重要】アカウントが一時的に停止されました",
        body="お客様のアカウントで第三者による不正アクセスを検知したため、アカウントを一時的に停止しました。\n"
        "本人確認のため、24時間以内に以下よりログインしてご確認ください。\n"
        "期限までにご確認いただけない場合、アカウントは削除されます。\nhttps://verify.example.test/login\n",
    )
    found = _symbols(findings)
    assert {"LURE_CREDENTIALS", "LURE_ACCOUNT_SUSPENDED", "LURE_URGENCY"} <= set(found)
    assert "本人確認" in found["LURE_CREDENTIALS"]["phrases"]
    assert _action(findings, policy) == Action.TAG


def test_japanese_card_lure_asking_to_update_payment_method_is_tagged(detector, policy):
    findings = _check(
        detector,
        from_="カード会員サービス <card@card-info.test>",
        subject="【緊急】カードご利用の一時停止のお知らせ",
        body="いつもご利用ありがとうございます。\nお客様のカードに不正利用の可能性があるため、ご利用を一時停止しております。\n"
        "お支払い方法の更新と会員情報の確認を本日中にお願いいたします。\nhttps://card-update.test/\n",
    )
    found = _symbols(findings)
    assert {"LURE_ACCOUNT_SUSPENDED", "LURE_PAYMENT_FAILED", "LURE_URGENCY", "LURE_CREDENTIALS"} <= set(found)
    assert _action(findings, policy) == Action.TAG


def test_japanese_card_lure_to_the_mailbox_address_is_quarantined(detector, policy):
    findings = _check(
        detector,
        from_="カード会員サービス <card@card-info.test>",
        to="hanako.s@victim.test",
        subject="hanako.s@victim.test 様 【緊急】カードご利用の一時停止のお知らせ",
        body="お客様のカードに不正利用の可能性があるため、ご利用を一時停止しております。\n"
        "お支払い方法の更新を本日中にお願いいたします。\nhttps://card-update.test/\n",
    )
    assert "LURE_RECIPIENT_AS_NAME" in _symbols(findings)
    assert _action(findings, policy) == Action.QUARANTINE


def test_callback_invoice_with_phone_number_and_no_link_is_flagged(detector, policy):
    body = (
        "Dear Customer,\nYour annual subscription has been successfully renewed.\n"
        "Invoice number: INV-20931\nProduct: Total Protection Suite (1 year)\nTotal amount: $399.99\n"
        "The amount will be debited from your account within 24 hours.\n"
        "If you did not authorize this charge, please call our billing department at +1 (808) 555-0143 "
        "to cancel and get a refund.\n"
    )
    findings = _check(detector, subject="Order confirmation #20931", body=body)
    found = _symbols(findings)
    assert "LURE_CALLBACK" in found
    assert "(808) 555-0143" in found["LURE_CALLBACK"]["phone"]
    assert _action(findings, policy) == Action.QUARANTINE  # with its deadline; alone it is tagged

    with_link = _check(detector, subject="Order confirmation #20931", body=body + "Manage: https://shop.test/account\n")
    assert "LURE_CALLBACK" not in _symbols(with_link)


def test_japanese_callback_notice_with_toll_free_number(detector):
    found = _symbols(
        _check(
            detector,
            subject="ご請求金額確定のお知らせ",
            body="ご契約のサービスが自動更新されました。\nご請求金額: 39,800円\n"
            "身に覚えのない場合は、サポートセンター 0120-555-123 までお電話ください。解約手続きを承ります。\n",
        )
    )
    assert found["LURE_CALLBACK"]["phone"] == "0120-555-123"


def test_parcel_lure_addressed_to_the_mailbox_is_quarantined(detector, policy):
    findings = _check(
        detector,
        from_="Delivery Service <track@parcel-status.test>",
        to="bob.smith@victim.test",
        subject="bob.smith@victim.test, your package is on hold",
        body="Hello bob.smith@victim.test,\nWe were unable to deliver your parcel because of an incomplete address.\n"
        "Please confirm your address and pay the redelivery fee of 1.99 EUR: https://redeliver.test/\n",
    )
    found = _symbols(findings)
    assert found["LURE_RECIPIENT_AS_NAME"] == {"address": "bob.smith@victim.test", "where": "subject"}
    assert "LURE_DELIVERY" in found
    assert _action(findings, policy) == Action.QUARANTINE


def test_advance_fee_asking_for_reply_at_a_free_mail_address(detector, policy):
    findings = _check(
        detector,
        from_="Barrister John Doe <office@law-chambers.test>",
        subject="Inheritance claim",
        body="Dear friend,\nI contact you about an unclaimed inheritance fund of US$ 8.5 million left by my late client.\n"
        "Kindly contact me on my private email: johndoe.chambers@gmail.com with your full names, address and phone.\n",
    )
    found = _symbols(findings)
    assert found["LURE_REPLY_ELSEWHERE"]["address"] == "johndoe.chambers@gmail.com"
    assert "LURE_ADVANCE_FEE" in found
    assert _action(findings, policy) == Action.QUARANTINE


def test_stranger_pretext_and_romance_opener_move_the_reader_to_a_free_mail_address(detector, policy):
    findings = _check(
        detector,
        from_="Anna <info@hacked-shop.test>",
        subject="Did you get my message?",
        body="Hello dear, I sent you an email before but no answer. I am a lonely woman and I will send you my photos. "
        "Write to me at anna.sunny1990@outlook.com\n",
    )
    found = _symbols(findings)
    assert {"LURE_ADVANCE_FEE", "LURE_ROMANCE", "LURE_REPLY_ELSEWHERE"} <= set(found)
    assert _action(findings, policy) == Action.QUARANTINE


def test_portuguese_card_callback_without_link(detector):
    found = _symbols(
        _check(
            detector,
            subject="Aviso de compra",
            body="Compra de R$1.299,99 retida para análise. Caso não reconheça, ligue para a central de segurança: "
            "0800-555-0123.\n",
        )
    )
    assert found["LURE_CALLBACK"]["phone"] == "0800-555-0123"


def test_points_expiring_and_court_summons_themes(detector):
    found = _symbols(
        _check(
            detector,
            subject="Seus pontos vão expirar",
            body="Olá, você tem pontos acumulados que estão próximos de expirar. Resgate seus pontos hoje. "
            "Intimação eletrônica: consulte o processo trabalhista em seu nome.\n",
        )
    )
    assert {"LURE_PRIZE", "LURE_LEGAL_THREAT"} <= set(found)


def test_portuguese_blocked_account_lure(detector):
    found = _symbols(
        _check(
            detector,
            subject="Sua conta foi bloqueada",
            body="Prezado cliente, identificamos uma transação suspeita e sua conta foi bloqueada. "
            "Para desbloquear, atualize seus dados imediatamente: https://desbloqueio.test/\n",
        )
    )
    assert {"LURE_ACCOUNT_SUSPENDED", "LURE_CREDENTIALS", "LURE_URGENCY"} <= set(found)


def test_struck_through_letters_are_decorated(detector):
    found = _symbols(_check(detector, from_="Co\u0337rreio\u0337s <x@y.test>", subject="Sua encomenda", body="Olá"))
    assert found["LURE_DECORATED_LETTERS"]["struck_letters"] == "2"


def test_homoglyphs_are_folded_before_matching(detector):
    # Cyrillic е and о inside "verify your account" still read as the lure
    found = _symbols(_check(detector, subject="Notice", body="Pl\u0435ase v\u0435rify y\u043eur account now.\n"))
    assert "LURE_CREDENTIALS" in found
    assert fold_text("𝐏𝐥𝐞𝐚𝐬𝐞  ａｃｃｏｕｎｔ") == "Please account"


def test_known_correspondent_counts_half(detector):
    ctx = ScanContext(knowledge=StaticKnowledge(partner_domains={"supplier.test"}))
    findings = _check(
        detector,
        ctx,
        from_="Billing <billing@supplier.test>",
        subject="Payment failed",
        body="Your payment was declined. Please update your payment method.\n",
    )
    assert findings and all(f.weight == 0.5 for f in findings)


@pytest.mark.parametrize(
    "text, phone",
    [
        ("call +1 (808) 555-0143 now", "+1 (808) 555-0143"),
        ("call 1-888-555-0199", "1-888-555-0199"),
        ("電話 03-1234-5678", "03-1234-5678"),
        ("ring +44 20 7946 0958", "+44 20 7946 0958"),
    ],
)
def test_phone_number_formats(text, phone):
    assert find_phones(text) == [phone]


@pytest.mark.parametrize("text", ["Invoice INV-2024-000123", "on 2024-05-12 at 10:30", "order 4451239987", "v1.2.3-4567"])
def test_ids_and_dates_are_not_phone_numbers(text):
    assert find_phones(text) == []


# False-positive traps: honest mail with some of the same words must not be quarantined, most not even tagged.


def test_shop_newsletter_with_sale_urgency_stays_clean(detector, policy):
    findings = _check(
        detector,
        from_="Outdoor Shop <news@outdoor-shop.test>",
        subject="Final hours: 40% off everything, today only!",
        body="Hi Anna,\nOur biggest sale of the year ends tonight. Limited time: 40% off jackets, boots and tents.\n"
        "Hurry, while stocks last! Shop now: https://outdoor-shop.test/sale\n"
        "Free shipping on orders over $50.\n\nYou receive this because you subscribed. Unsubscribe: "
        "https://outdoor-shop.test/unsubscribe\n",
    )
    assert _action(findings, policy) == Action.DELIVER


def test_bank_statement_notice_stays_clean(detector, policy):
    findings = _check(
        detector,
        from_="Example Bank <statements@examplebank.test>",
        subject="Your monthly statement is ready",
        body="Dear Ms. Tanaka,\nYour statement for the account ending 1234 is now available.\n"
        "Sign in to online banking to view it. For questions call us at 1-800-555-0100.\n",
    )
    assert _action(findings, policy) == Action.DELIVER


def test_japanese_business_invoice_confirmation_stays_clean(detector, policy):
    findings = _check(
        detector,
        from_="佐々木 恵 <megumi.sasaki@kitaboshi.example>",
        subject="11月分ご請求書送付の件",
        body="東海計器 経理部 森田様\n\nいつもお世話になっております。北星商事の佐々木です。\n"
        "11月分の請求書を添付にてお送りいたします。ご確認のほどよろしくお願いいたします。\n"
        "お支払い期限は12月末日となっております。\nご不明な点がございましたら 052-123-4567 までご連絡ください。\n",
    )
    assert _action(findings, policy) == Action.DELIVER


def test_mailing_list_digest_stays_clean(detector, policy):
    topics = "\n".join(
        f"{n}. Re: build fails on {arch} (was: urgent question about the release)" for n, arch in enumerate(
            ["arm64", "ppc", "sparc", "i386", "mips"], 1)
    )
    findings = _check(
        detector,
        from_="dev-request@lists.example.test",
        subject="dev digest, Vol 12, Issue 4",
        body=f"Send dev mailing list submissions to dev@lists.example.test\nToday's Topics:\n{topics}\n\n"
        "Message: 1\nThe patch was applied immediately; the account for the build bot was closed after the move.\n"
        "Congratulations to the winner of the logo contest!\n",
    )
    assert _action(findings, policy) == Action.DELIVER


def test_password_changed_notice_stays_clean(detector, policy):
    findings = _check(
        detector,
        from_="Example Cloud <security@examplecloud.test>",
        subject="Your password was changed",
        body="Hi Ken,\nThe password for your Example Cloud account was changed on 3 May 2024.\n"
        "If you did not make this change, contact support immediately at +1 415 555 0134.\n",
    )
    found = _symbols(findings)
    assert "LURE_CALLBACK" not in found and "LURE_CREDENTIALS" not in found
    assert _action(findings, policy) == Action.DELIVER


def test_operator_phrases_extend_the_stock_ones(tmp_path):
    extra = tmp_path / "lure_phrases.toml"
    extra.write_text("[themes.credentials]\nnl = ['\\bbevestig uw account\\b']\n", encoding="utf-8")
    phrases = LurePhrases.load(extra)
    assert phrases.find("Bevestig uw account vandaag")["credentials"] == ["Bevestig uw account"]
    assert "credentials" in phrases.find("please verify your account")


def test_supplier_invoice_with_phone_in_signature_is_no_callback(detector, policy):
    findings = _check(
        detector,
        from_="Accounts <accounts@small-supplier.test>",
        subject="Invoice 2024-118 for October",
        body="Dear Mr. Tanaka,\nplease find attached invoice number 2024-118 (total amount: $1,240.00), due on 30 November.\n"
        "If you have any questions, please call us at (415) 555-0188.\nBest regards,\nSmall Supplier Inc.\n",
    )
    assert "LURE_CALLBACK" not in _symbols(findings)
    assert _action(findings, policy) == Action.DELIVER


def test_real_service_notice_with_lure_words_is_never_quarantined_on_wording(policy):
    # the brand's own "card expired / verify your email" reads like its phishing copy; with the model
    # agreeing it is still a tag at most: only the sender and link families can clear or condemn it
    from kakuri.detect.lure_model import LureModelDetector

    detectors = [LureText(), LureModelDetector()]
    groups = {spec.name: spec.group for d in detectors for spec in d.symbols}
    parsed = parse_message(
        make_message(
            from_="Example Music <no-reply@music.example>",
            subject="Action needed: update your payment method",
            body="Hi Ken,\nThe card on file for your Example Music subscription has expired. Please update your "
            "payment method to keep listening without interruption. Please verify your account within 48 hours.\n"
            "Update payment method: https://music.example/billing\nThe Example Music team\n",
        )
    )
    findings = [f for d in detectors for f in d.check(parsed, ScanContext())]
    assert {"LURE_PAYMENT_FAILED", "LURE_CREDENTIALS", "LURE_MODEL"} <= {f.symbol for f in findings}
    assert score_findings(findings, policy, Direction.INBOUND, groups).action == Action.TAG


def test_business_news_with_large_sums_is_no_advance_fee(detector):
    found = _symbols(
        _check(
            detector,
            from_="Tech Weekly <news@techweekly.test>",
            subject="Funding roundup",
            body="Acme Robotics raised $12 million in a Series A led by Example Ventures, and Beta Labs closed a "
            "US$ 40 million round. Analysts call the sector an attractive investment opportunity.\n",
        )
    )
    assert "LURE_ADVANCE_FEE" not in found


def test_advance_fee_story_confirmed_by_the_model_is_quarantined_without_a_link(policy):
    from kakuri.detect.lure_model import LureModelDetector

    detectors = [LureText(), LureModelDetector()]
    groups = {spec.name: spec.group for d in detectors for spec in d.symbols}
    parsed = parse_message(
        make_message(
            from_="Mr. James Cole <office@bank-branch.test>",
            subject="Confidential business proposal",
            body="Dear friend, my name is Mr James Cole, a bank manager. I need your help to transfer the sum of "
            "US$ 12,500,000.00 into your account as my foreign partner. The fund belongs to a deceased customer "
            "with no next of kin. Kindly reply with your full names, address and phone for more details.\n",
        )
    )
    findings = [f for d in detectors for f in d.check(parsed, ScanContext())]
    symbols = {f.symbol: dict(f.evidence) for f in findings}
    assert symbols["LURE_ADVANCE_FEE"]["phrases"].startswith("US$ 12,500,000")
    assert "LURE_MODEL" in symbols
    assert score_findings(findings, policy, Direction.INBOUND, groups).action == Action.QUARANTINE
