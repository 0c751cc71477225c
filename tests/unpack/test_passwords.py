import pytest

from kakuri.parse.mime import parse_message
from kakuri.unpack.passwords import BodyPasswords, harvest_passwords
from tests.builders import make_message


@pytest.mark.parametrize(
    "text, password",
    [
        ("File: info_891034.zip\nPassword: Pw7097\n", "Pw7097"),
        ("PW: aj7m", "aj7m"),
        ("pass: a-b_c", "a-b_c"),
        ("The password is hunter2.", "hunter2"),
        ('The password for the file is "Qz9!x".', "Qz9!x"),
        ("Zip password = zz9 (case sensitive)", "zz9"),
        ("Passwort: geheim7", "geheim7"),
        ("パスワード：ci6%zd%3yPR\nよろしくお願いいたします。", "ci6%zd%3yPR"),
        ("パスワード: ci6%zd%3yPR", "ci6%zd%3yPR"),
        ("パスワードは abc123 です。", "abc123"),
        ("パスワードはabc123です。", "abc123"),
        ("解凍パスワード：Tk2020", "Tk2020"),
        ("解凍パスワードは下記の通りです。\n\n  Qwerty99\n", "Qwerty99"),
        ("パスワード\nR7x-2kq\n", "R7x-2kq"),
        ("暗証番号「8812」でお開きください。", "8812"),
        ("パスワードは『nagoya2020』となります。", "nagoya2020"),
        ("ＰＷ：ｘｙｚ１２３", "xyz123"),  # full-width, NFKC-normalised
        ("ﾊﾟｽﾜｰﾄﾞ：kobe77", "kobe77"),  # half-width katakana keyword
        ("パスワード（半角英数）：Ab12Cd", "Ab12Cd"),
        ("密码：qwe321", "qwe321"),
        ("비밀번호: seoul88", "seoul88"),
        ("เรียน ท่าน\nรหัสผ่าน: Bkk2020\nขอบคุณครับ", "Bkk2020"),  # Thai has no word spaces
        ("กรุณาใช้รหัสผ่าน Bkk2020 เพื่อเปิดไฟล์", "Bkk2020"),
        ("Mật khẩu: hanoi55", "hanoi55"),
        ("Kata sandi: jkt0921", "jkt0921"),
        ("解压口令：zx81", "zx81"),
        ("Пароль: msk777", "msk777"),
    ],
)
def test_password_is_the_first_candidate(text, password):
    assert harvest_passwords(text)[0] == password


@pytest.mark.parametrize("text", ["Please use Xk92mq as password.", "Xk92mq がパスワードです。", "P.W.: Xk92mq"])
def test_password_written_before_the_keyword_is_a_candidate(text):
    assert "Xk92mq" in harvest_passwords(text)


def test_tokens_before_the_keyword_come_after_those_behind_it():
    assert harvest_passwords("ref A-1200 password: Qm77x")[0] == "Qm77x"


def test_full_width_password_is_also_offered_as_written():
    candidates = harvest_passwords("パスワード：ＡＢＣ１２３")
    assert candidates[0] == "ABC123"
    assert "ＡＢＣ１２３" in candidates


def test_words_containing_pass_are_not_keywords():
    assert harvest_passwords("Your passport was passed to the bypass team; see attached.") == []


def test_text_without_password_keyword_gives_nothing():
    assert harvest_passwords("請求書を送付いたします。ご確認ください。\nBest regards") == []


def test_candidates_are_capped_and_unique():
    text = "\n".join(f"password: tok{i}" for i in range(100))
    candidates = harvest_passwords(text, limit=10)
    assert len(candidates) == 10
    assert len(set(candidates)) == 10


def test_generic_tokens_near_the_keyword_come_after_the_explicit_one():
    candidates = harvest_passwords("Password (see below)\nzip: payroll.zip  code K7mm2\nPassword: real1")
    assert candidates[0] == "real1"
    assert "K7mm2" in candidates


@pytest.mark.parametrize("charset", ["iso-2022-jp", "shift_jis", "utf-8"])
def test_japanese_body_in_any_charset_yields_the_password(charset):
    body = "お世話になっております。\n添付ファイルの解凍パスワードは以下の通りです。\nパスワード：Xk83ma\n"
    message = parse_message(make_message(body=body, charset=charset))
    assert BodyPasswords().passwords(message, None)[0] == "Xk83ma"


def test_password_in_html_body_and_subject_is_found():
    raw = make_message(subject="パスワード: subj55", body="see html",
                       html="<p>解凍パスワード：<b>htmlPw9</b></p>")
    candidates = list(BodyPasswords().passwords(parse_message(raw), None))
    assert "subj55" in candidates and "htmlPw9" in candidates
