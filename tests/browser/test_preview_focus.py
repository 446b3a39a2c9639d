"""Drag a box on the preview page and save it, in Debian's headless Chromium.

The page replays a drag (``/?drag=ID:fx0,fy0,fx1,fy1``) through its own
pointer handlers and presses *Save region*; the test reads the page's
``#focus-report`` from the DOM Chromium dumps, then asks the server itself
that the region was stored and now decides ``c=7``.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.browser.test_preview_page import PageParser, run_chromium
from tests.conftest import serve_subprocess
from tests.handlers.test_focus_override import two_blocks

#: Fractions of the shown image (binary fractions, so the page's arithmetic is exact):
#: on the 600x200 source, x 37.5..131.25 and y 50..150 -> the box 37,50,95,100.
DRAG = (0.0625, 0.25, 0.21875, 0.75)
EXPECTED = (37, 50, 95, 100)


class FocusReport(PageParser):
    def __init__(self) -> None:
        super().__init__()
        self.focus: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        super().handle_starttag(tag, attrs)
        a = {k: v or "" for k, v in attrs}
        if a.get("id") == "focus-report":
            self.focus = a


@pytest.fixture
def server(tmp_path: Path):
    store = tmp_path / "store"
    store.mkdir()
    (store / "blocks.png").write_bytes(two_blocks())
    env = dict(os.environ, LOCAL_ANALYSIS_STORE=str(tmp_path / "sidecars"), SMARTCROP_ASPECT_RATIOS="0.75,1.0,1.5")
    env.pop("SOURCE_BUCKET", None)
    env.pop("SIGNING_SECRET", None)
    with serve_subprocess(store, env) as base:
        yield base


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=120) as res:
        return res.status, dict(res.headers), res.read()


@pytest.mark.slow
@pytest.mark.model
def test_a_dragged_box_is_saved_as_the_manual_region(server, tmp_path):
    spec = "blocks.png:" + ",".join(str(f) for f in DRAG)
    dump = run_chromium(tmp_path, "focus", "--dump-dom", f"{server}/?drag={quote(spec)}")
    assert dump.returncode == 0, dump.stderr[-2000:]
    page = FocusReport()
    page.feed(dump.stdout)
    assert page.focus.get("data-state") == "saved", page.focus
    assert page.focus.get("data-origin") == "manual"
    got = tuple(int(v) for v in page.focus["data-region"].split(","))
    assert all(abs(a - b) <= 1 for a, b in zip(got, EXPECTED, strict=True)), got

    status, _, body = fetch(f"{server}/analysis?id=blocks.png")
    doc = json.loads(body)
    assert status == 200 and doc["regionOrigin"] == "manual"
    assert (doc["region"]["x"], doc["region"]["y"], doc["region"]["w"], doc["region"]["h"]) == got
    status, headers, _ = fetch(f"{server}/th?id=blocks.png&w=100&h=200&c=7")
    assert status == 200 and headers["X-Smartthumb-Region"] == "manual"

    # The page now draws the saved region over the original.
    after = run_chromium(tmp_path, "after", "--dump-dom", f"{server}/")
    assert after.returncode == 0 and after.stdout.count('class="manual"') == 1
