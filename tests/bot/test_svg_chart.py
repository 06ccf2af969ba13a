"""The feedback chart: a well-formed, self-contained SVG whose bars stay inside the plot and
scale with the counts."""

from __future__ import annotations

import datetime as dt
import html
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from bot.i18n import translator
from bot.svg_chart import HEIGHT, MAX_DAYS, WIDTH, DayFeedback, daily_series, feedback_chart

SVG = "{http://www.w3.org/2000/svg}"


def bars(svg: str) -> list[ET.Element]:
    return list(ET.fromstring(svg).iter(f"{SVG}rect"))


def test_daily_series_fills_the_missing_days_with_zeros() -> None:
    rows = [("2026-12-01", 2, 1), ("2026-12-03", 0, 4), ("2026-11-01", 9, 9)]
    days = daily_series(rows, dt.date(2026, 12, 1), dt.date(2026, 12, 4))
    assert days == [
        DayFeedback("2026-12-01", 2, 1),
        DayFeedback("2026-12-02", 0, 0),
        DayFeedback("2026-12-03", 0, 4),
        DayFeedback("2026-12-04", 0, 0),
    ]


def test_daily_series_is_bounded() -> None:
    days = daily_series([], dt.date(2000, 1, 1), dt.date(2026, 12, 4))
    assert len(days) == MAX_DAYS and days[-1].day == "2026-12-04"


def test_bars_scale_with_the_counts_and_carry_their_day() -> None:
    svg = feedback_chart([DayFeedback("2026-12-01", 4, 1), DayFeedback("2026-12-02", 2, 0)])
    rects = bars(svg)
    heights = [float(r.get("height", "0")) for r in rects]
    assert len(rects) == 3
    assert heights[0] == 2 * heights[2] == 4 * heights[1]
    titles = [r.find(f"{SVG}title") for r in rects]
    assert [t.text for t in titles if t is not None] == [
        "2026-12-01: 4 helpful",
        "2026-12-01: 1 not helpful",
        "2026-12-02: 2 helpful",
    ]
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # nothing from outside


def test_an_empty_chart_says_so() -> None:
    svg = feedback_chart([])
    assert not bars(svg)
    assert "No feedback yet" in svg


def test_the_title_is_escaped() -> None:
    svg = feedback_chart([], title='<script>alert("x")</script>')
    assert "<script>" not in svg
    ET.fromstring(svg)


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=400))
def test_every_chart_is_well_formed_and_stays_inside_the_plot(
    counts: list[tuple[int, int]],
) -> None:
    start = dt.date(2026, 1, 1)
    days = [
        DayFeedback((start + dt.timedelta(days=i)).isoformat(), up, down)
        for i, (up, down) in enumerate(counts)
    ]
    svg = feedback_chart(days)
    rects = bars(svg)
    assert len(rects) == sum(1 for d in days[-MAX_DAYS:] for n in (d.up, d.down) if n)
    for rect in rects:
        x, y = float(rect.get("x", "0")), float(rect.get("y", "0"))
        w, h = float(rect.get("width", "0")), float(rect.get("height", "0"))
        assert x >= 0 and x + w <= WIDTH + 0.1
        assert y >= 0 and y + h <= HEIGHT + 0.1


def test_the_chart_is_written_in_the_pages_language() -> None:
    french = translator("fr")
    svg = feedback_chart([DayFeedback("2026-12-01", 1, 3)], tr=french)
    title = french.gettext("Feedback per day")
    assert title != "Feedback per day" and f'aria-label="{title}"' in svg
    titles = [t.text for r in bars(svg) if (t := r.find(f"{SVG}title")) is not None]
    assert titles == [
        french.ngettext("{day}: {count} helpful", "{day}: {count} helpful", 1).format(
            day="2026-12-01", count=1
        ),
        french.ngettext("{day}: {count} not helpful", "{day}: {count} not helpful", 3).format(
            day="2026-12-01", count=3
        ),
    ]
    assert "helpful" not in "".join(t or "" for t in titles)
    empty = feedback_chart([], tr=french)
    assert html.escape(french.gettext("No feedback yet")) in empty
    assert "No feedback yet" not in empty
