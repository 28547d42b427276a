"""The HTML report in real headless Chromium: plots and tables render, dataset text runs nothing.

Skipped when no Chromium is installed, unless ASSAY_REQUIRE_BROWSER is set (CI sets it).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports.export import export_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str:
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found:
        return found
    if os.environ.get("ASSAY_REQUIRE_BROWSER"):
        pytest.fail("ASSAY_REQUIRE_BROWSER is set but no Chromium is installed: "
                    "apt-get install -y chromium (scripts/setup.sh does)")
    pytest.skip("no Chromium installed (set ASSAY_REQUIRE_BROWSER=1 to make this a failure)")


def _chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True,
                          env=os.environ | {"HOME": str(tmp_path)})


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


@pytest.fixture
def html_report(sample_report, tmp_path) -> Path:
    return export_report(sample_report, "html", tmp_path / "report.html")


def test_chromium_renders_plots_and_tables_and_runs_no_dataset_script(html_report, tmp_path):
    browser = _browser()
    dom = _chromium(browser, tmp_path, "--dump-dom", html_report.as_uri()).stdout
    parsed = _Elements()
    parsed.feed(dom)
    tags = [tag for tag, _ in parsed.elements]
    ids = {attrs.get("id") for _, attrs in parsed.elements}

    assert tags.count("svg") == 4
    assert {"plot-rates", "plot-kappa", "plot-categories", "plot-topics"} <= ids
    assert tags.count("circle") == 4  # three judges and the consensus
    assert {"agreement-table", "judges-table", "errors-table", "disagreements-table",
            "categories-table", "topics-table", "invalid-table", "failures-table"} <= ids
    # The answer's script is text: no script element, no handler attribute, title untouched.
    assert "script" not in tags
    assert not [name for _, attrs in parsed.elements for name in attrs if name.startswith("on")]
    assert parsed.title == "Assay audit report audit-0123456789ab"
    assert "pwned" not in parsed.title
    assert ('&lt;script&gt;document.title="pwned"&lt;/script&gt;" onmouseover="alert(2)'
            in dom)
    assert "[red]ASAP[/]" in dom


def test_chromium_screenshot_of_the_report(html_report, tmp_path):
    browser = _browser()
    shot = tmp_path / "report.png"
    _chromium(browser, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
              "--hide-scrollbars", html_report.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000, "a blank page compresses to a few kB; the report does not"
    if os.environ.get("ASSAY_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["ASSAY_KEEP_SCREENSHOT"])
