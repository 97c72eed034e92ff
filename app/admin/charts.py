"""Bar charts as plain SVG geometry, drawn by the templates: no JavaScript, no images."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True, slots=True)
class BarChart:
    title: str
    width: int
    height: int
    bars: list[Bar]
    maximum: int
    first_label: str
    last_label: str


def bar_chart(
    title: str, points: list[tuple[str, int]], *, width: int = 640, height: int = 140
) -> BarChart:
    maximum = max((value for _, value in points), default=0)
    slot = width / max(len(points), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        bar_height = 0.0 if maximum == 0 else (height - 4) * value / maximum
        bars.append(
            Bar(
                x=round(index * slot + 1, 2),
                y=round(height - bar_height, 2),
                width=round(max(slot - 2, 1), 2),
                height=round(bar_height, 2),
                label=label,
                value=value,
            )
        )
    return BarChart(
        title=title,
        width=width,
        height=height,
        bars=bars,
        maximum=maximum,
        first_label=points[0][0] if points else "",
        last_label=points[-1][0] if points else "",
    )
