"""Interface labels by language, and times in the viewer's zone.

Templates never hold user-facing English directly: they call `t("key")`, so adding a language is adding
a column here. Japanese labels follow the words Japanese mail administrators use (隔離, 解放, 送信者...).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGUAGES = ("en", "ja")

LABELS: dict[str, tuple[str, str]] = {
    # key: (English, Japanese)
    "app.title": ("kakuri console", "kakuri 管理コンソール"),
    "nav.dashboard": ("Dashboard", "ダッシュボード"),
    "nav.quarantine": ("Quarantine", "隔離メール"),
    "nav.trace": ("Message trace", "メッセージ追跡"),
    "nav.audit": ("Audit log", "監査ログ"),
    "nav.users": ("Users", "ユーザー"),
    "nav.profile": ("Profile", "プロフィール"),
    "nav.logout": ("Log out", "ログアウト"),
    "login.title": ("Log in", "ログイン"),
    "login.name": ("User name", "ユーザー名"),
    "login.password": ("Password", "パスワード"),
    "login.submit": ("Log in", "ログイン"),
    "login.failed": ("Wrong user name or password.", "ユーザー名またはパスワードが違います。"),
    "login.locked": ("Too many failed attempts; try again later.", "失敗が多すぎます。しばらくしてから再試行してください。"),
    "dash.per_hour": ("Messages per hour by verdict", "判定別メッセージ数(1時間ごと)"),
    "dash.symbols": ("Detections by symbol", "検知シンボル別件数"),
    "dash.families": ("Detections by family", "検知ファミリー別件数"),
    "dash.recipients": ("Most targeted recipients", "攻撃を受けた受信者"),
    "dash.impersonated": ("Most impersonated names", "なりすまされた名前"),
    "dash.window": ("Last %s hours", "直近 %s 時間"),
    "dash.empty": ("No data in this window.", "この期間のデータはありません。"),
    "q.search": ("Search", "検索"),
    "q.text": ("Subject or Message-ID", "件名または Message-ID"),
    "q.since": ("From (time)", "開始日時"),
    "q.until": ("To (time)", "終了日時"),
    "q.sender": ("Sender", "送信者"),
    "q.recipient": ("Recipient", "受信者"),
    "q.symbol": ("Symbol", "シンボル"),
    "q.direction": ("Direction", "方向"),
    "q.any": ("any", "すべて"),
    "q.status": ("Status", "状態"),
    "q.received": ("Received", "受信日時"),
    "q.subject": ("Subject", "件名"),
    "q.score": ("Score", "スコア"),
    "q.next": ("Older →", "次へ →"),
    "q.first": ("← Newest", "← 最新"),
    "q.none": ("No quarantined message matches.", "該当する隔離メールはありません。"),
    "q.selected": ("Selected messages", "選択したメッセージ"),
    "q.reason": ("Reason (required)", "理由(必須)"),
    "q.release": ("Release", "解放"),
    "q.delete": ("Delete", "削除"),
    "q.done": ("%s message(s): %s", "%s 件: %s"),
    "m.envelope": ("Envelope", "エンベロープ"),
    "m.headers": ("Headers", "ヘッダー"),
    "m.verdict": ("Verdict and explanation", "判定と理由"),
    "m.findings": ("Findings", "検知内容"),
    "m.attachments": ("Attachments", "添付ファイル"),
    "m.preview": ("Text preview (HTML shown as sanitized text)", "本文プレビュー(HTML はテキスト化して表示)"),
    "m.raw": ("Download raw message (.eml)", "元メッセージをダウンロード (.eml)"),
    "m.actions": ("Release or delete", "解放・削除"),
    "m.history": ("History", "履歴"),
    "m.client": ("Client", "接続元"),
    "m.mail_from": ("MAIL FROM", "MAIL FROM"),
    "m.rcpt_to": ("RCPT TO", "RCPT TO"),
    "m.type": ("Type", "種類"),
    "m.size": ("Size", "サイズ"),
    "m.sha256": ("SHA-256", "SHA-256"),
    "m.no_preview": ("Your role does not show message content.", "このロールでは本文を表示できません。"),
    "trace.title": ("Message trace", "メッセージ追跡"),
    "trace.none": ("No message matches.", "該当するメッセージはありません。"),
    "audit.title": ("Audit log", "監査ログ"),
    "audit.actor": ("Who", "実行者"),
    "audit.action": ("Action", "操作"),
    "audit.target": ("Target", "対象"),
    "audit.reason": ("Reason", "理由"),
    "users.title": ("Users", "ユーザー"),
    "users.add": ("Add user", "ユーザー追加"),
    "users.role": ("Role", "ロール"),
    "users.token": ("New API token", "API トークン発行"),
    "users.token_once": ("Copy this token now; it is not shown again:", "このトークンは再表示されません。今コピーしてください:"),
    "profile.tz": ("Time zone", "タイムゾーン"),
    "profile.save": ("Save", "保存"),
    "error.forbidden": ("You are not allowed to do this.", "この操作の権限がありません。"),
    "error.not_found": ("Not found.", "見つかりません。"),
    "error.request": ("The request could not be carried out.", "リクエストを処理できませんでした。"),
    "error.back": ("Back", "戻る"),
    "common.time_zone": ("Times in %s", "時刻は %s"),
    "nav.incidents": ("Incidents", "インシデント"),
    "nav.emergency": ("Emergency", "緊急対応"),
    "inc.title": ("Title", "件名"),
    "inc.severity": ("Severity", "重大度"),
    "inc.opened": ("Opened", "起票"),
    "inc.since": ("Since", "開始"),
    "inc.hosts": ("Hosts", "端末"),
    "inc.accounts": ("Accounts", "アカウント"),
    "inc.contacts": ("Contacts", "連絡先"),
    "inc.none": ("No incident.", "インシデントはありません。"),
    "inc.open": ("Open an incident", "インシデントを起票"),
    "inc.summary": ("Summary", "概要"),
    "inc.links": ("Hosts, accounts, messages, indicators", "端末・アカウント・メール・IOC"),
    "inc.kind": ("Kind", "種別"),
    "inc.values": ("Values (comma or line separated)", "値(カンマまたは改行区切り)"),
    "inc.note": ("Note", "メモ"),
    "inc.add_note": ("Add note", "メモを追加"),
    "inc.link": ("Link", "関連付け"),
    "inc.hunt": ("Hunt results (kakuri hunt --json)", "調査結果 (kakuri hunt --json)"),
    "inc.import": ("Import", "取り込み"),
    "inc.warnings": ("Warnings to contacts", "取引先への注意喚起"),
    "inc.preview": ("Preview warning", "注意喚起メールをプレビュー"),
    "inc.send": ("Send to every contact not yet warned", "未送信の連絡先すべてに送信"),
    "inc.host": ("Host", "端末"),
    "inc.dry_run": ("Dry run", "テスト実行"),
    "inc.isolate": ("Isolate host", "端末を隔離"),
    "inc.close": ("Close incident", "インシデントを終了"),
    "inc.release": ("All clear: release its held mail", "収束: 保留メールを解放"),
    "inc.when": ("Time", "日時"),
    "inc.timeline": ("Timeline", "タイムライン"),
    "inc.report": ("Report", "報告書"),
    "inc.delivered": ("Delivered before we knew", "配信後に判明した不審メール"),
    "inc.clawback": ("Claw back from mailboxes", "メールボックスから回収"),
    "inc.clawback_undo": ("Undo clawback", "回収を取り消す"),
    "inc.not_clawed": ("not clawed back", "未回収"),
    "em.help": ("Each switch applies to every gateway worker within seconds and is recorded with who, when and why.",
                "各スイッチは数秒以内に全ゲートウェイに反映され、実行者・日時・理由が記録されます。"),
    "em.in_force": ("In force", "実施中"),
    "em.none": ("No emergency policy in force.", "実施中の緊急ポリシーはありません。"),
    "em.mode": ("Policy", "ポリシー"),
    "em.switch_on": ("Switch on", "有効化"),
    "em.on": ("Switch on", "有効にする"),
    "em.off": ("Switch off", "解除"),
    "em.archives": ("Quarantine every archive and disk image", "すべての圧縮ファイル・ディスクイメージを隔離"),
    "em.hold_outbound": ("Hold all outbound mail", "すべての送信メールを保留"),
    "em.hold_sender": ("Hold mail from one sender", "特定の送信者のメールを保留"),
    "em.hold_host": ("Hold mail from one host", "特定の端末からのメールを保留"),
    "em.value_hold_sender": ("Sender address", "送信者アドレス"),
    "em.value_hold_host": ("Host IP", "端末の IP アドレス"),
}


def pick_language(accept_language: str | None, default: str = "en") -> str:
    """The first language of the Accept-Language header that we have, else the default."""
    for item in (accept_language or "").split(","):
        code = item.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default if default in LANGUAGES else "en"


def translator(language: str):
    index = LANGUAGES.index(language) if language in LANGUAGES else 0

    def t(key: str, *args) -> str:
        text = LABELS.get(key, (key, key))[index]
        return text % args if args else text

    return t


def zone(name: str | None, fallback: str = "Asia/Tokyo") -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def format_time(value: datetime | None, tz: ZoneInfo) -> str:
    """"2026-11-25 21:05:03 JST"; stored times are UTC (naive ones from SQLite are taken as UTC)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def to_utc(value: datetime | None) -> datetime | None:
    """An API time as aware UTC; a time without offset is taken as UTC (the API speaks UTC)."""
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def parse_local_time(text: str | None, tz: ZoneInfo) -> datetime | None:
    """A form's `datetime-local` value (viewer's zone) or an ISO time with offset, as aware UTC."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)
