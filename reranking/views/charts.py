"""SVG chart geometry for the UI pages: inline SVG, so no chart library is shipped."""
from __future__ import annotations

def bar_chart(points: list[tuple[str, int]], width: int = 600, height: int = 150) -> dict:
    """Return the geometry of an SVG bar chart of (label, value) pairs."""
    top = max((value for _, value in points), default=0) or 1
    slot = width / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        h = round(height * value / top, 1)
        bars.append({"x": round(i * slot + 1, 1), "y": round(height - h, 1), "w": round(max(slot - 2, 1), 1), "h": h,
                     "label": label, "value": value})
    return {"width": width, "height": height, "bars": bars, "max": top, "total": sum(v for _, v in points),
            "first": points[0][0] if points else "", "last": points[-1][0] if points else ""}


def line_chart(labels: list[str], series: dict[str, list[float | None]]) -> dict:
    """Return a line chart in percent of its plot area: one polyline per series over shared x labels.

    The y-axis spans the values (with a margin), not 0 to the peak, so 0.368 against 0.370 is visible;
    `from_zero` says whether it starts at 0, for the caption. The lines are an SVG stretched to the plot
    (non-scaling strokes); dots and labels are HTML placed by percentage, so text keeps its size and dots
    stay round at any width.
    """
    values = [v for line in series.values() for v in line if v is not None]
    low, high = min(values, default=0.0), max(values, default=0.0)
    pad = (high - low) * 0.15 or abs(high) * 0.05 or 1.0
    bottom, top = max(0.0, low - pad), high + pad
    single = len(labels) == 1

    def x(i: int) -> float:
        return 50.0 if single else round(100 * i / (len(labels) - 1), 2)

    def y(value: float) -> float:
        return round(100 * (1 - (value - bottom) / (top - bottom)), 2)

    lines = []
    for n, (name, line) in enumerate(series.items()):
        points = [{"x": x(i), "y": y(v), "value": v, "label": labels[i]} for i, v in enumerate(line) if v is not None]
        lines.append({"name": name, "css": f"series-{n}", "points": points,
                      "path": " ".join(f"{p['x']},{p['y']}" for p in points)})
    ticks = [{"y": y(value), "value": value} for value in (low, (low + high) / 2, high)] if high > low \
        else [{"y": y(high), "value": high}]
    return {"lines": lines, "ticks": ticks, "from_zero": bottom == 0.0,
            "xlabels": [{"x": x(i), "label": label} for i, label in enumerate(labels)]}
