"""Server-side page rendering: one `render()` that gives every template the same context."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from kakuri.display import html_value
from kakuri.web import i18n
from kakuri.web.deps import Principal

TEMPLATES = Path(__file__).with_name("templates")


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.autoescape = True  # every value is escaped; mail text is shown, never interpreted
    templates.env.finalize = html_value  # and control or bidi characters in it are shown as escapes
    templates.env.filters["filesize"] = _filesize
    return templates


def language(request: Request) -> str:
    return i18n.pick_language(request.headers.get("accept-language"), request.app.state.web.language)


def render(request: Request, name: str, principal: Principal | None, status_code: int = 200, **context):
    web = request.app.state.web
    tz = i18n.zone(principal.time_zone if principal else None, web.time_zone)
    lang = language(request)
    base = {
        "user": principal,
        "csrf_token": principal.csrf_token if principal else None,
        "t": i18n.translator(lang),
        "lang": lang,
        "tz_name": tz.key,
        "when": lambda value: i18n.format_time(value, tz),
        "config": _config_generation(request) if principal else None,
    }
    return request.app.state.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _config_generation(request: Request) -> dict | None:
    reloader = getattr(request.app.state, "reloader", None)
    if reloader is None:
        return None
    state = reloader.state
    return {"generation": state.generation, "loaded_at": state.loaded_at[:19].replace("T", " "),
            "stale": state.is_stale(reloader.home), "error": state.error}


def _filesize(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)
