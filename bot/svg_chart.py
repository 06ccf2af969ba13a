"""Feedback over time as an SVG bar chart, drawn on the server (pure; nothing loaded from
outside): per day, "helpful" (👍) bars up from the axis and "not helpful" (👎) bars down."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .i18n import ENGLISH, Translator

__all__ = ["DayFeedback", "daily_series", "feedback_chart"]

MAX_DAYS = 366  # bars drawn at most (the newest are kept)
WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 14, 26  # margins for the labels
UP_COLOUR, DOWN_COLOUR = "#2e7d32", "#c62828"


@dataclass(frozen=True, slots=True)
class DayFeedback:
    day: str  # YYYY-MM-DD (UTC)
    up: int
    down: int


def daily_series(
    rows: Iterable[tuple[str, int, int]], first: dt.date, last: dt.date
) -> list[DayFeedback]:
    """One entry per day from ``first`` to ``last`` (at most MAX_DAYS, the newest), with 0 on
    the days that ``rows`` (day, up, down) do not name; rows outside the range are left out."""
    counts = {day: (up, down) for day, up, down in rows}
    start = max(first, last - dt.timedelta(days=MAX_DAYS - 1))
    days = []
    day = start
    while day <= last:
        up, down = counts.get(day.isoformat(), (0, 0))
        days.append(DayFeedback(day.isoformat(), up, down))
        day += dt.timedelta(days=1)
    return days


def _bar(x: float, y: float, width: float, height: float, colour: str, title: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
        f'fill="{colour}"><title>{html.escape(title)}</title></rect>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="{anchor}">'
        f"{html.escape(text)}</text>"
    )


def _bars(days: Sequence[DayFeedback], peak: int, tr: Translator) -> list[str]:
    """Each day's 👍 bar up from the axis and 👎 bar down, titled in ``tr``'s language."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    axis_y = TOP + plot_h / 2
    slot = plot_w / max(1, len(days))
    bar_w = max(1.0, slot * 0.7)
    bars = []
    for i, d in enumerate(days):
        x = LEFT + i * slot + (slot - bar_w) / 2
        if d.up:
            h = plot_h / 2 * d.up / peak
            title = tr.ngettext("{day}: {count} helpful", "{day}: {count} helpful", d.up)
            bars.append(
                _bar(x, axis_y - h, bar_w, h, UP_COLOUR, title.format(day=d.day, count=d.up))
            )
        if d.down:
            h = plot_h / 2 * d.down / peak
            title = tr.ngettext("{day}: {count} not helpful", "{day}: {count} not helpful", d.down)
            bars.append(
                _bar(x, axis_y, bar_w, h, DOWN_COLOUR, title.format(day=d.day, count=d.down))
            )
    return bars


def feedback_chart(
    days: Sequence[DayFeedback], title: str | None = None, tr: Translator = ENGLISH
) -> str:
    """An SVG element: 👍 per day above the axis, 👎 below (named in words: a server may have
    no emoji font), with the busiest day's count as the scale and the first and last dates
    under it; its title (by default "Feedback per day") and texts in ``tr``'s language."""
    if title is None:
        title = tr.gettext("Feedback per day")
    days = list(days)[-MAX_DAYS:]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    axis_y = TOP + plot_h / 2
    peak = max([1, *(d.up for d in days), *(d.down for d in days)])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(title)}">',
        f"<title>{html.escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{axis_y:.1f}" x2="{WIDTH - RIGHT}" y2="{axis_y:.1f}" '
        'stroke="#666" stroke-width="1"/>',
        _text(LEFT - 4, TOP + 10, f"+{peak}", "end"),
        _text(LEFT - 4, axis_y + 4, "0", "end"),
        _text(LEFT - 4, TOP + plot_h, f"-{peak}", "end"),
    ]
    if not days:
        empty = tr.gettext("No feedback yet")
        parts.append(_text(LEFT + plot_w / 2, axis_y - 6, empty, "middle"))
    parts.extend(_bars(days, peak, tr))
    if days:
        parts.append(_text(LEFT, HEIGHT - 6, days[0].day))
        parts.append(_text(WIDTH - RIGHT, HEIGHT - 6, days[-1].day, "end"))
    parts.append("</svg>")
    return "".join(parts)
