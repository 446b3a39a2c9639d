"""The preview page (``smartthumb serve`` at ``/``) in Debian's headless Chromium.

The page marks every ``<img>`` with the natural size it must have
(``data-expected``) and records what the browser loaded (``data-natural``);
this test reads the DOM Chromium dumps after loading and compares the two for
every image, then keeps a screenshot in ``tests/artifacts/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO, SAMPLES, serve_subprocess

ARTIFACTS = REPO / "tests" / "artifacts"
RATIOS = "0.75,1.0,1.5,1.78"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.report: dict[str, str] = {}
        self.crops = 0
        self.errors: list[str] = []
        self._in_error = False

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(a)
        if a.get("id") == "image-report":
            self.report = a
        if tag == "div" and "crop" in a.get("class", "").split():
            self.crops += 1
        self._in_error = tag == "p" and "error" in a.get("class", "").split()

    def handle_data(self, data):
        if self._in_error:
            self.errors.append(data)
            self._in_error = False


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed: apt-get install -y chromium (infra/dev.sh setup does it as root)")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    store.mkdir()
    for path in SAMPLES.glob("*.jpg"):
        shutil.copy(path, store / path.name)
    shutil.copy(SAMPLES / "chelsea.jpg", store / "my cat & é+1.jpg")  # escaping in URLs and HTML
    Image.new("RGBA", (90, 300), (0, 128, 0, 128)).save(store / "tall.png")  # small: never upscaled
    (store / "broken.jpg").write_bytes(b"not an image at all")
    return store


@pytest.fixture
def server(store: Path, tmp_path: Path):
    env = dict(os.environ, LOCAL_ANALYSIS_STORE=str(tmp_path / "sidecars"), SMARTCROP_ASPECT_RATIOS=RATIOS)
    env.pop("SOURCE_BUCKET", None)
    env.pop("SIGNING_SECRET", None)
    with serve_subprocess(store, env) as base:
        yield base


def run_chromium(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{name}"  # a new, empty profile for every run
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=30000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.mark.slow
@pytest.mark.model
def test_preview_page_loads_every_image_at_its_size(server, tmp_path):
    url = server + "/"
    dump = run_chromium(tmp_path, "dom", "--dump-dom", url)
    assert dump.returncode == 0, dump.stderr[-2000:]
    page = PageParser()
    page.feed(dump.stdout)

    good = 6  # 4 samples, the copy with a tricky name, the small PNG; broken.jpg is listed as an error
    per_image = 1 + 2 * 3  # the original and three c=4/c=7 pairs
    assert len(page.images) == good * per_image
    for img in page.images:
        assert img.get("data-state") == "loaded", img
        assert img["data-natural"] == img["data-expected"], img
    assert page.report.get("data-state") == "ok" and page.report.get("data-mismatched") == "0"
    assert page.report.get("data-total") == str(good * per_image)
    # One box per configured ratio over every analysed original.
    assert page.crops == good * len(RATIOS.split(","))
    assert any("UnsupportedImage" in e for e in page.errors)
    # The small image is shown at its own size (no upscaling) and padded to w x h in thumbnails.
    tall = [i for i in page.images if "id=tall.png" in i["src"]]
    assert tall[0]["data-expected"] == "90x300"
    assert {i["data-natural"] for i in tall[1:]} == {"200x200", "300x150", "120x180"}
    smart = [i for i in page.images if "c=7" in i["src"]]
    assert len(smart) == good * 3

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "preview.png"
    shot.unlink(missing_ok=True)
    taken = run_chromium(tmp_path, "shot", "--window-size=1300,4200", f"--screenshot={shot}", url)
    assert taken.returncode == 0, taken.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.format == "PNG" and im.size == (1300, 4200)
        # Not a blank page: the photos put plenty of distinct colours on it.
        assert len(im.convert("RGB").resize((325, 1050)).getcolors(1 << 20) or []) > 5000
