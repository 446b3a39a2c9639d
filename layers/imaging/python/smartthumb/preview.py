"""The preview page at ``/`` for ``smartthumb serve``: what the smart crops look like.

For every image of the store (up to :data:`MAX_IMAGES`): the original (a
``/th`` URL that only scales it) with the smart-crop box of each configured
ratio drawn over it (absolutely positioned boxes in percent of the original,
so they fit any displayed size), the region of interest and the faces; then
thumbnails at a few Bing URLs, ``c=4`` (blind ratio) beside ``c=7`` (smart
ratio). Plain HTML and a few lines of inline script; no build step.

Every ``<img>`` carries the natural size it must load with
(``data-expected="WxH"``, computed with the same geometry as ``/th``); the
inline script records what the browser actually got (``data-natural``) and
a summary in ``#image-report``, which the headless-browser test reads and
which shows a person at a glance when an image failed.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from smartthumb import preview_focus, render
from smartthumb.config import Settings
from smartthumb.errors import ThumbError
from smartthumb.geometry import Box, CropMode, Size, plan_thumbnail
from smartthumb.sidecars import AnalysisCache, Sidecar
from smartthumb.sources import ImageSource

log = logging.getLogger("smartthumb.preview")

MAX_IMAGES = 60
#: Signed links on the page (signing on, `serve --preview`) expire after this long.
PREVIEW_LINK_TTL_S = 3600
#: Width at which originals are shown (never upscaled).
DISPLAY_WIDTH = 480
#: The Bing URLs shown for every image, each as c=4 and c=7.
THUMB_SIZES: tuple[tuple[int, int], ...] = ((200, 200), (300, 150), (120, 180))
#: How long the page waits for an image's analysis when no sidecar exists.
ANALYSIS_WAIT_MS = 30_000
COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45")


@dataclass(frozen=True)
class Card:
    image_id: str
    size: Size | None
    sidecar: Sidecar | None
    origin: str
    error: str | None = None


Link = Callable[..., str]


def th_url(image_id: str, **params: Any) -> str:
    return "/th?" + urlencode({"id": image_id, **params})


def signed_links(settings: Settings) -> Link:
    """``th_url``, signed when the deployment requires signed ``/th`` URLs."""
    from smartthumb.signing import load_secret, sign_query, signing_configured

    if not signing_configured(settings):
        return th_url
    secret = load_secret(settings)

    # Links that expire: the page must not hand out URLs that work forever.
    expires_at = int(time.time()) + PREVIEW_LINK_TTL_S

    def link(image_id: str, **params: Any) -> str:
        return "/th?" + sign_query(secret, urlencode({"id": image_id, **params}), expires_at=expires_at)

    return link


def expected_size(size: Size, width: int | None, height: int | None, crop: CropMode, pad: bool) -> Size:
    return plan_thumbnail(size, width, height, crop, pad).canvas


def list_image_ids(source: ImageSource, limit: int = MAX_IMAGES) -> list[str]:
    """Ids of the store's images: a local folder lists itself, S3 is listed under the prefix."""
    lister = getattr(source, "list_ids", None)
    if callable(lister):
        return list(lister())[:limit]
    client = getattr(source, "client", None)
    bucket = getattr(source, "bucket", None)
    prefix = getattr(source, "prefix", "")
    if client is None or not bucket:
        return []
    ids: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.endswith("/"):
                ids.append(key[len(prefix) :])
            if len(ids) >= limit:
                return ids
    return ids


def _pct(value: float, whole: int) -> str:
    return f"{100 * value / whole:.3f}%"


def _box_style(box: Box, size: Size, colour: str) -> str:
    return (
        f"left:{_pct(box.x, size.width)};top:{_pct(box.y, size.height)};"
        f"width:{_pct(box.w, size.width)};height:{_pct(box.h, size.height)};border-color:{colour}"
    )


def _img(src: str, expected: Size, alt: str, css: str = "", style: str = "") -> str:
    styled = f' style="{html.escape(style)}"' if style else ""
    return (
        f'<img src="{html.escape(src)}" alt="{html.escape(alt)}" class="{css}"{styled} '
        f'data-expected="{expected.width}x{expected.height}" loading="eager">'
    )


def placeholder_style(sidecar: Any, size: Size) -> str:
    """CSS painting the sidecar's placeholder (dominant colour, then the decoded BlurHash)
    behind an image while it loads; "" when there is none."""
    raw = (getattr(sidecar, "analysis", None) or {}).get("placeholder") if sidecar is not None else None
    if not isinstance(raw, dict):
        return ""
    color, blurhash = raw.get("color"), raw.get("blurhash")
    if not (isinstance(color, str) and re.fullmatch(r"#[0-9a-f]{6}", color) and isinstance(blurhash, str)):
        return ""
    from PIL import Image

    from smartthumb.placeholders import BlurHashError, blurhash_decode

    w = 32
    h = max(1, round(w * size.height / size.width))
    try:
        pixels = blurhash_decode(blurhash, w, h)
    except BlurHashError:
        return f"background:{color}"
    buf = io.BytesIO()
    Image.frombytes("RGB", (w, h), pixels).save(buf, "PNG")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"background:{color} url(data:image/png;base64,{data}) center/cover no-repeat"


def render_card(card: Card, ratios: Sequence[float], link: Link = th_url) -> str:
    esc = html.escape
    head = f"<h2>{esc(card.image_id)}</h2>"
    if card.size is None or card.error:
        return f'<section class="card broken">{head}<p class="error">{esc(card.error or "unreadable")}</p></section>'
    size = card.size
    shown_w = min(DISPLAY_WIDTH, size.width)
    waiting = placeholder_style(card.sidecar, size)  # shown while the thumbnails load
    original = _img(
        link(card.image_id, w=shown_w, p=0),
        expected_size(size, shown_w, None, CropMode.NONE, False),
        f"{card.image_id} with its smart crops",
        style=waiting,
    )
    overlays: list[str] = []
    legend: list[str] = []
    sidecar = card.sidecar
    controls = ""
    attributes = ""
    if sidecar is not None and sidecar.ok and sidecar.azure:
        from smartthumb.focus import box_from_json

        manual = box_from_json(getattr(sidecar, "manual_region", None))
        attributes = preview_focus.original_attributes(card.image_id, size)
        controls = preview_focus.controls(signed=link is not th_url)
        overlays.append(preview_focus.overlays(manual, _box_style(manual, size, "#0ff") if manual else ""))
        if manual is not None:
            legend.append(f"<li>manual region: x={manual.x} y={manual.y} w={manual.w} h={manual.h}</li>")
        values = sidecar.azure.get("smartCropsResult", {}).get("values", [])
        for i, value in enumerate(values):
            colour = COLOURS[i % len(COLOURS)]
            b = value["boundingBox"]
            box = Box(int(b["x"]), int(b["y"]), int(b["w"]), int(b["h"]))
            label = f"{value['aspectRatio']}"
            overlays.append(
                f'<div class="crop" style="{_box_style(box, size, colour)}">'
                f'<span style="background:{colour};top:{16 * i}px">'
                f"{esc(label)}</span></div>"
            )
            legend.append(
                f'<li><i style="background:{colour}"></i>{esc(label)}: x={box.x} y={box.y} w={box.w} h={box.h}</li>'
            )
        if sidecar.roi is not None:
            overlays.append(f'<div class="roi" style="{_box_style(sidecar.roi, size, "#fff")}"></div>')
            legend.append('<li><i class="roi-key"></i>region of interest</li>')
        for face in sidecar.faces:
            x, y, w, h = (int(v) for v in face.get("box", (0, 0, 0, 0)))
            if w > 0 and h > 0:
                overlays.append(f'<div class="face" style="{_box_style(Box(x, y, w, h), size, "#ff0")}"></div>')
        if sidecar.faces:
            legend.append(f'<li><i class="face-key"></i>{len(sidecar.faces)} face(s)</li>')
        placeholder = (sidecar.analysis or {}).get("placeholder")
        if waiting and isinstance(placeholder, dict):
            legend.append(
                f'<li class="placeholder"><i style="{esc(waiting)}"></i>placeholder '
                f"{esc(str(placeholder.get('color')))} <code>{esc(str(placeholder.get('blurhash')))}</code></li>"
            )
    elif sidecar is not None and not sidecar.ok:
        legend.append(f'<li class="error">analysis failed: {esc(str((sidecar.error or {}).get("code")))}</li>')
    else:
        legend.append("<li>no analysis available: c=7 falls back to blind ratio</li>")
    thumbs: list[str] = []
    for w, h in THUMB_SIZES:
        pair = []
        for crop in (CropMode.BLIND_RATIO, CropMode.SMART_RATIO):
            url = link(card.image_id, w=w, h=h, c=int(crop))
            pair.append(
                f"<figure>{_img(url, expected_size(size, w, h, crop, True), f'c={int(crop)} {w}x{h}', style=waiting)}"
                f"<figcaption><code>w={w}&amp;h={h}&amp;c={int(crop)}</code></figcaption></figure>"
            )
        thumbs.append(f'<div class="pair">{"".join(pair)}</div>')
    meta = f"{size.width}×{size.height}, analysis: {esc(card.origin)}"
    return (
        f'<section class="card">{head}<p class="meta">{meta}</p><div class="row">'
        f'<div class="original" style="width:{shown_w}px"{attributes}>{original}{"".join(overlays)}</div>'
        f'<ul class="legend">{"".join(legend)}</ul></div>{controls}'
        f'<div class="thumbs">{"".join(thumbs)}</div></section>'
    )


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;background:#f4f4f4;color:#222}
h1{margin:0 0 4px}h2{margin:0;font-size:16px;word-break:break-all}
.card{background:#fff;border-radius:8px;padding:16px;margin:16px 0;box-shadow:0 1px 3px #0002}
.row{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}
.original{position:relative;line-height:0}.original img{width:100%;height:auto;display:block}
.crop,.roi,.face{position:absolute;box-sizing:border-box;border:3px solid;pointer-events:none}
.crop span{position:absolute;left:0;top:0;color:#fff;font-size:12px;line-height:16px;padding:0 4px}
.roi{border:2px dashed #fff;outline:1px dashed #000}.face{border:2px solid #ff0}
.legend{list-style:none;padding:0;margin:0}.legend i{display:inline-block;width:12px;height:12px;margin-right:6px}
.legend .roi-key{border:2px dashed #000;box-sizing:border-box}.legend .face-key{border:2px solid #cc0}
.thumbs{display:flex;gap:24px;flex-wrap:wrap;margin-top:12px}.pair{display:flex;gap:8px;align-items:flex-end}
figure{margin:0}figcaption{font-size:11px;color:#555}.meta{color:#666;margin:2px 0 10px}.error{color:#b00}
img[data-state=error]{outline:3px solid #b00}#image-report{color:#666}
"""

SCRIPT = """
(function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll('img[data-expected]'));
  var pending = imgs.length;
  function done() {
    var bad = imgs.filter(function (i) { return i.dataset.natural !== i.dataset.expected; });
    var report = document.getElementById('image-report');
    report.dataset.total = String(imgs.length);
    report.dataset.mismatched = String(bad.length);
    report.dataset.state = bad.length ? 'failed' : 'ok';
    report.textContent = imgs.length + ' images, ' + bad.length + ' not as expected' +
      bad.map(function (i) { return '\\n' + i.getAttribute('src') + ': ' + (i.dataset.natural || 'error'); }).join('');
  }
  function settle(img, ok) {
    img.dataset.state = ok ? 'loaded' : 'error';
    img.dataset.natural = ok ? img.naturalWidth + 'x' + img.naturalHeight : 'error';
    if (--pending === 0) { done(); }
  }
  if (!pending) { done(); }
  imgs.forEach(function (img) {
    if (img.complete && img.naturalWidth) { settle(img, true); return; }
    img.addEventListener('load', function () { settle(img, true); });
    img.addEventListener('error', function () { settle(img, false); });
  });
})();
"""


def render_page(cards: Sequence[Card], ratios: Sequence[float], truncated: bool = False, link: Link = th_url) -> str:
    body = "".join(render_card(card, ratios, link) for card in cards) or "<p>The store has no images.</p>"
    note = f"<p>Showing the first {MAX_IMAGES} images.</p>" if truncated else ""
    ratio_list = ", ".join(f"{r:g}" for r in ratios)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>smartthumb preview</title><style>{STYLE}{preview_focus.STYLE}</style></head><body>"
        "<h1>smartthumb preview</h1>"
        f"<p>Smart crops for the ratios {html.escape(ratio_list)} drawn on each original; "
        "below, Bing-style thumbnails with blind ratio (<code>c=4</code>) beside smart ratio (<code>c=7</code>).</p>"
        f'<pre id="image-report" data-state="pending">loading images…</pre>{preview_focus.report()}{note}{body}'
        f"<script>{SCRIPT}{preview_focus.SCRIPT}</script></body></html>"
    )


def collect_cards(settings: Settings, source: ImageSource, cache: AnalysisCache, ids: Sequence[str]) -> list[Card]:
    cards: list[Card] = []
    for image_id in ids:
        try:
            obj = source.get(image_id)
            size = render.open_image(obj.data, settings).size
        except ThumbError as exc:
            cards.append(Card(image_id, None, None, "none", f"{exc.code}: {exc.message}"))
            continue
        sidecar = cache.current(obj)
        origin = "sidecar"
        if sidecar is None:
            sidecar = cache.compute(obj, ANALYSIS_WAIT_MS)
            origin = "computed" if sidecar is not None else "unavailable"
        cards.append(Card(image_id, size, sidecar, origin))
    return cards


def register_preview(
    app: APIGatewayHttpResolver,
    settings: Settings,
    *,
    source: ImageSource,
    cache: AnalysisCache,
) -> None:
    """Add ``GET /`` (the preview page) to ``app``. Meant for ``smartthumb serve``,
    on the same source and :class:`AnalysisCache` as the app's other routes."""

    @app.get("/")
    def preview() -> Response:
        ids = list_image_ids(source, MAX_IMAGES + 1)
        cards = collect_cards(settings, source, cache, ids[:MAX_IMAGES])
        link = signed_links(settings)
        page = render_page(cards, settings.smartcrop_aspect_ratios, truncated=len(ids) > MAX_IMAGES, link=link)
        headers = {"Cache-Control": "no-store"}
        return Response(status_code=200, content_type="text/html; charset=utf-8", body=page, headers=headers)
