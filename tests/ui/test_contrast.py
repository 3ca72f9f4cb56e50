"""Accessibility basics checked on the shipped stylesheet and base page: non-text contrast, skip link, icon.

axe-core cannot be installed offline here, so the contrast rule (WCAG 2.1 SC 1.4.11: UI component
boundaries and chart marks at least 3:1 against their background) is computed from app.css's own values.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "static" / "ui" / "app.css").read_text()


def variable(name: str) -> str:
    match = re.search(rf"--{name}:\s*(#[0-9a-fA-F]{{6}})", CSS)
    assert match, f"--{name} is not a 6-digit hex colour in app.css"
    return match.group(1)


def luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def ratio(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_the_ratio_formula_matches_known_values():
    assert ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert ratio("#c3ccd7", "#ffffff") == pytest.approx(1.6, abs=0.05)  # the old input border: too faint
    assert ratio("#6f9bff", "#ffffff") == pytest.approx(2.7, abs=0.05)  # the old chart bars: too faint


@pytest.mark.parametrize("name", ["control-border", "chart-1", "chart-2", "focus", "accent", "bad"])
@pytest.mark.parametrize("background", ["panel", "bg"])
def test_non_text_colours_reach_three_to_one(name, background):
    assert ratio(variable(name), variable(background)) >= 3.0


def test_controls_and_charts_use_those_colours():
    assert re.search(r"input\[type=text\][^{]*\{[^}]*border: 1px solid var\(--control-border\)", CSS)
    assert "svg.bars .bar { fill: var(--chart-1); }" in CSS
    assert "polyline.series-1 { stroke: var(--chart-2)" in CSS
    assert not re.search(r"#c3ccd7|#6f9bff[^;]*;\s*}|#b0b8c4", CSS.split("/* charts")[1])  # no faint colour is left


@pytest.mark.django_db
def test_every_page_has_a_skip_link_and_an_icon(owner, url, client):
    html = owner.get(url("ui:dashboard")).content.decode()
    assert html.index('class="skip-link" href="#main"') < html.index("<header") and '<main id="main"' in html
    assert 'rel="icon" href="/static/ui/favicon.svg"' in html
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response.url == "/static/ui/favicon.svg"
