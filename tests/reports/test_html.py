"""The self-contained HTML report, checked in a real headless browser."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from llmfinops.reports import html_report, parse_budgets, write_html

from .conftest import priced

MODELS = [("gpt-4o", "openai"), ("claude-haiku-4-5", "anthropic"), ("gpt-4o-mini", "openai")]
TEAMS = ["search", "ads", "support"]


@pytest.fixture
def month_of_traffic(write_jsonl):
    start = datetime(2026, 10, 20, tzinfo=UTC)
    recs = []
    for day in range(30):
        for i in range(6):
            model, provider = MODELS[(day + i) % 3]
            recs.append(
                priced(
                    model,
                    provider,
                    team=TEAMS[i % 3],
                    feature=f"f{i % 4}",
                    input_tokens=2000 + 300 * i + 50 * day,
                    cached=1000 if i % 2 else 0,
                    output=300,
                    ts=start + timedelta(days=day, hours=2 * i),
                )
            )
    recs += [
        priced(
            "gpt-4o",
            team="ads",
            feature="f1",
            input_tokens=50_000,
            output=2000,
            ts=start + timedelta(days=29, hours=13, minutes=m),
        )
        for m in range(30)
    ]
    return write_jsonl(recs)


def _png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into rows of pixels."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = color = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert (depth, color in (2, 6)) == (8, True)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r[i : i + 3]) for r in rows[::4] for i in range(0, stride, bpp * 4)]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail(
            "chromium is not installed: apt-get install -y chromium (needed for the HTML report test)"
        )
    pytest.skip("chromium is not installed (set CI=1 to make this a failure)")


class TestHtmlContent:
    def test_sections_and_figures(self, month_of_traffic):
        """Every section is there, with the total spend and the forecast."""
        budgets = parse_budgets({"budget": [{"key": "total", "window": "month", "limit_usd": "5"}]})
        html = html_report(
            month_of_traffic,
            budgets=budgets,
            shared_cost_usd=Decimal(100),
            generated_at=datetime(2026, 11, 20, tzinfo=UTC),
        )
        for heading in (
            "Spend over time by team",
            "Spend over time by model",
            "Cost split",
            "Cache savings by model",
            "Month-end forecast",
            "Alerts",
            "Budget vs actual",
            "Chargeback",
            "By team",
            "By model",
            "By feature",
        ):
            assert f"<h2>{heading}</h2>" in html
        assert html.count("<svg") == 5
        assert "95% band" in html
        assert "budget $5" in html

    def test_self_contained(self, month_of_traffic):
        """No script, no stylesheet or image links, no fetchable URL: one file that works offline."""
        html = html_report(month_of_traffic)
        assert re.search(r"<script|<link|<img|@import|url\(|(src|href)=", html) is None
        assert set(re.findall(r"https?://[^\"' ]+", html)) == {"http://www.w3.org/2000/svg"}

    def test_escaping(self, write_jsonl):
        """Team names are escaped, never injected as HTML."""
        html = html_report(write_jsonl([priced(team="<b>evil</b>")]))
        assert "<b>evil</b>" not in html
        assert "&lt;b&gt;evil&lt;/b&gt;" in html

    def test_empty_logs(self, tmp_path):
        """An empty log still gives a valid page that says so."""
        p = tmp_path / "e.jsonl"
        p.write_text("")
        assert "No calls in the selected logs." in html_report(p)


class TestHtmlInBrowser:
    def test_renders_in_headless_chromium(self, month_of_traffic, tmp_path):
        """Chromium renders the page into a screenshot with real content (not blank, not one colour)."""
        chromium = _chromium()
        page = write_html(
            month_of_traffic,
            tmp_path / "report.html",
            budgets=parse_budgets({"budget": [{"key": "total", "window": "month", "limit_usd": "5"}]}),
        )
        png = tmp_path / "report.png"
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}",
                f"--screenshot={png}",
                "--window-size=1280,2000",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        assert png.stat().st_size > 50_000
        width, height, pixels = _png_pixels(png)
        colours = Counter(pixels)
        assert (width, height) == (1280, 2000)
        assert len(colours) > 50
        assert colours.most_common(1)[0][1] / len(pixels) < 0.9
        # the chart palette is on screen: the first series colour (#4e79a7) of the stacked bars
        assert colours[bytes((0x4E, 0x79, 0xA7))] > 100
