"""Charts drawn on the server as inline SVG: no JavaScript library, nothing fetched, works under the CSP.

Two shapes cover the dashboard: stacked columns over time (messages per hour by verdict) and
horizontal bars for top-N lists. Every label is escaped; colours come from CSS classes (console.css).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from kakuri.display import visible

ACTIONS = ("deliver", "tag", "hold", "quarantine", "reject")  # stacking order, bottom to top


def stacked_hours(per_hour: list[tuple[datetime, dict[str, int]]], tz: ZoneInfo, title: str) -> Markup:
    width, height, left, bottom, top = 720, 220, 40, 28, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max([sum(counts.values()) for _, counts in per_hour] + [1])
    step = plot_w / max(len(per_hour), 1)
    out = [_open(width, height, title)]
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        out.append(f'<line class="grid" x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{round(peak * frac)}</text>')
    for i, (hour, counts) in enumerate(per_hour):
        x, base = left + i * step, top + plot_h
        for action in [*ACTIONS, *sorted(set(counts) - set(ACTIONS))]:
            count = counts.get(action, 0)
            if not count:
                continue
            h = plot_h * count / peak
            base -= h
            label = escape(f"{hour.astimezone(tz):%m-%d %H:00} {action}: {count}")
            out.append(
                f'<rect class="bar v-{escape(action)}" x="{x + 1:.1f}" y="{base:.1f}" width="{max(step - 2, 1):.1f}" '
                f'height="{h:.1f}"><title>{label}</title></rect>'
            )
        if i % max(len(per_hour) // 8, 1) == 0:
            out.append(
                f'<text class="axis" x="{x + step / 2:.1f}" y="{height - 10}" text-anchor="middle">'
                f"{hour.astimezone(tz):%H:00}</text>"
            )
    out.append(_legend(width, [a for a in ACTIONS if any(c.get(a) for _, c in per_hour)]))
    out.append("</svg>")
    return Markup("".join(out))


def top_bars(items: list[tuple[str, int]], title: str) -> Markup:
    row, label_w, width = 22, 300, 720
    height = max(len(items), 1) * row + 8
    peak = max([count for _, count in items] + [1])
    out = [_open(width, height, title)]
    for i, (label, count) in enumerate(items):
        y = 4 + i * row
        bar = (width - label_w - 60) * count / peak
        label = visible(label, limit=300)  # names and recipients from mail
        text = escape(label if len(label) <= 40 else label[:39] + "…")
        out.append(f'<text class="label" x="{label_w - 6}" y="{y + 15}" text-anchor="end">{text}</text>')
        out.append(f'<rect class="bar top" x="{label_w}" y="{y + 3}" width="{max(bar, 1):.1f}" height="{row - 6}">'
                   f"<title>{escape(label)}: {count}</title></rect>")
        out.append(f'<text class="axis" x="{label_w + bar + 6:.1f}" y="{y + 15}">{count}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
    )


def _legend(width: int, actions: list[str]) -> str:
    parts = []
    for i, action in enumerate(actions):
        x = width - 10 - (len(actions) - i) * 95
        parts.append(f'<rect class="bar v-{action}" x="{x}" y="0" width="10" height="10"/>'
                     f'<text class="axis" x="{x + 14}" y="9">{action}</text>')
    return "".join(parts)
