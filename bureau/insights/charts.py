"""Series into plain SVG charts: geometry computed here, markup in templates/insights/_chart.html.

A chart is data (rectangles, text, a legend, the same numbers as a table); the template writes
it out with Jinja's escaping, so labels taken from the database (speaker and topic names) are
never markup. Every chart carries a title and description for screen readers and a data table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask_babel import gettext as _

WIDTH = 720
PLOT_TOP, PLOT_HEIGHT = 16, 180
LEFT, BOTTOM = 48, 40
ROW_HEIGHT = 24
# Room an axis label takes at font-size 11: a generous average glyph width, and a gap.
CHAR_WIDTH, LABEL_GAP = 6.5, 10
# Colour-blind-safe hues first (Okabe-Ito), then darker and lighter variants.
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#000000",
    "#7f7f7f",
    "#8c564b",
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#bcbd22",
    "#17becf",
)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str  # the tooltip and accessible name of this piece


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass
class Chart:
    id: str
    title: str
    description: str
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[tuple[float, float, float, float]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    head: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.rects


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int | float]
    color: str = ""


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times 10^k at least value: axes end on round numbers."""
    if value <= 0:
        return 1
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def stacked_bars(
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    label_every: int = 1,
    ticks: Sequence[str] | None = None,
) -> Chart:
    """Vertical bars, one per category, each stacked from the series' values (a single series
    is a plain bar chart). The table lists every value and the total per category.

    ``ticks`` are shorter axis labels for the categories (the bars' titles and the table keep
    the full ones); only every n-th is written, n large enough that no two labels overlap.
    """
    ticks = list(ticks) if ticks is not None else list(categories)
    colored = [
        Series(s.name, s.values, s.color or PALETTE[i % len(PALETTE)]) for i, s in enumerate(series)
    ]
    totals = [sum(s.values[i] for s in colored) for i in range(len(categories))]
    top = nice_ceiling(max(totals, default=0))
    if all(float(v).is_integer() for s in colored for v in s.values):
        top = max(top, 2)  # counts: no gridline at one half
    slot = (WIDTH - LEFT) / max(len(categories), 1)
    bar = min(48.0, max(2.0, slot * 0.7))
    widest = max((len(t) for t in ticks), default=0) * CHAR_WIDTH + LABEL_GAP
    label_every = max(label_every, math.ceil(widest / slot))
    chart = Chart(
        chart_id,
        title,
        description,
        WIDTH,
        PLOT_TOP + PLOT_HEIGHT + BOTTOM,
        legend=[(s.name, s.color) for s in colored],
        head=["", *(s.name for s in colored), _("Total")],
    )
    base_y = PLOT_TOP + PLOT_HEIGHT
    for fraction in (0, 0.5, 1):
        y = round(base_y - fraction * PLOT_HEIGHT, 1)
        chart.lines.append((LEFT, y, WIDTH, y))
        chart.texts.append(Text(LEFT - 6, y + 4, number(top * fraction), "end"))
    for i, category in enumerate(categories):
        x = round(LEFT + i * slot + (slot - bar) / 2, 1)
        y = float(base_y)
        for s in colored:
            value = s.values[i]
            if value <= 0:
                continue
            height = value / top * PLOT_HEIGHT
            y -= height
            chart.rects.append(
                Rect(
                    x,
                    round(y, 1),
                    round(bar, 1),
                    round(height, 1),
                    s.color,
                    f"{category}: {s.name} {number(value)}",
                )
            )
        if i % label_every == 0:
            chart.texts.append(Text(round(x + bar / 2, 1), base_y + 16, ticks[i]))
        chart.rows.append([category, *(number(s.values[i]) for s in colored), number(totals[i])])
    return chart


def _one_row_each(
    chart_id: str, title: str, description: str, rows: int, row_height: int, head: list[str]
) -> Chart:
    """A chart with no marks yet, one row high per item (and one row high when there are none)."""
    return Chart(chart_id, title, description, WIDTH, max(1, rows) * row_height + 8, head=head)


def horizontal_bars(
    chart_id: str,
    title: str,
    description: str,
    items: Sequence[tuple[str, int | float]],
    *,
    value_name: str | None = None,
) -> Chart:
    """One labelled bar per item, longest first as given (rankings)."""
    value_name = value_name or _("Requests")
    label_width = 220
    top = max((value for _label, value in items), default=0) or 1
    chart = _one_row_each(chart_id, title, description, len(items), ROW_HEIGHT, ["", value_name])
    span = WIDTH - label_width - 60
    for i, (label, value) in enumerate(items):
        y = 4 + i * ROW_HEIGHT
        width = max(1.0, value / top * span)
        chart.texts.append(Text(label_width - 8, y + 15, label, "end"))
        chart.rects.append(
            Rect(label_width, y + 2, round(width, 1), 18, PALETTE[0], f"{label}: {number(value)}")
        )
        chart.texts.append(Text(round(label_width + width + 6, 1), y + 15, number(value), "start"))
        chart.rows.append([label, number(value)])
    return chart


def funnel(chart_id: str, title: str, description: str, stages: Sequence[tuple[str, int]]) -> Chart:
    """Centred bars narrowing stage by stage, each with its count and share of the first."""
    first = stages[0][1] if stages else 0
    row = 36
    head = [_("Stage"), _("Requests"), _("Share of new")]
    chart = _one_row_each(chart_id, title, description, len(stages), row, head)
    label_width, span = 130, WIDTH - 130 - 110
    for i, (name, count) in enumerate(stages):
        share = count / first if first else 0.0
        width = max(1.0, share * span) if count else 0.0
        y = 4 + i * row
        x = label_width + (span - width) / 2
        percent = f"{share:.0%}"
        chart.texts.append(Text(label_width - 8, y + 20, name, "end"))
        if count:
            chart.rects.append(
                Rect(
                    round(x, 1),
                    y,
                    round(width, 1),
                    28,
                    PALETTE[i % len(PALETTE)],
                    f"{name}: {count} ({percent})",
                )
            )
        chart.texts.append(
            Text(label_width + span + 8, y + 20, f"{number(count)} ({percent})", "start")
        )
        chart.rows.append([name, number(count), percent])
    return chart


STATUS_COLORS = {
    "new": "#56b4e9",
    "unassigned": "#f0e442",
    "assigned": "#0072b2",
    "shortlisted": "#e69f00",
    "offer_received": "#cc79a7",
    "awaiting_speaker": "#9467bd",
    "speaker_declined": "#8c564b",
    "speaker_accepted": "#bcbd22",
    "contracted": "#17becf",
    "confirmed": "#009e73",
    "completed": "#2ca02c",
    "declined": "#d55e00",
    "withdrawn": "#7f7f7f",
    "cancelled": "#000000",
    "expired": "#c7c7c7",
}


def status_color(status: str) -> str:
    """The same colour for a status in every chart."""
    return STATUS_COLORS.get(status, PALETTE[-1])
