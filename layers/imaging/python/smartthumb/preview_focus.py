"""The preview page's "drag a box, save it" control for manual regions.

On each analysed original a person drags a box (pointer events on the
``.original`` element, which carries the image id and its oriented source
size); **Save region** sends it as ``PUT /analysis?id=`` in oriented source
pixels and **Clear** sends ``{"region": null}``. The answer's region and
origin are shown under the image and recorded on ``#focus-report``
(``data-state``, ``data-region``, ``data-origin``), which the
headless-browser test reads; reload the page to see the new crops.

For that test, ``/?drag=ID:fx0,fy0,fx1,fy1`` (fractions of the shown
image) replays a drag through the same event handlers once the page has
loaded, and presses Save. Saving is off when ``/th`` URLs are signed: a
browser holds no secret to sign the PUT with (use ``smartthumb focus``).
"""

from __future__ import annotations

import html

from smartthumb.geometry import Box, Size

STYLE = """
.original{touch-action:none;user-select:none;cursor:crosshair}
.draft,.manual{position:absolute;box-sizing:border-box;pointer-events:none}
.draft{border:2px dashed #0ff;background:#0ff3}.manual{border:3px double #0ff}
.focus{margin-top:8px;display:flex;gap:8px;align-items:center}.focus-status{color:#066}
"""

SCRIPT = """
(function () {
  var report = document.getElementById('focus-report');
  function clamp(v) { return Math.min(1, Math.max(0, v)); }
  function frac(box, e) {
    var r = box.getBoundingClientRect();
    return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
  }
  function toRegion(box, a, b) {
    var W = +box.dataset.width, H = +box.dataset.height;
    var x0 = Math.floor(Math.min(a[0], b[0]) * W), y0 = Math.floor(Math.min(a[1], b[1]) * H);
    var x1 = Math.ceil(Math.max(a[0], b[0]) * W), y1 = Math.ceil(Math.max(a[1], b[1]) * H);
    return {x: x0, y: y0, w: Math.max(1, Math.min(W, x1) - x0), h: Math.max(1, Math.min(H, y1) - y0)};
  }
  function draw(box, r) {
    var d = box.querySelector('.draft'), W = +box.dataset.width, H = +box.dataset.height;
    d.style.left = (100 * r.x / W) + '%'; d.style.top = (100 * r.y / H) + '%';
    d.style.width = (100 * r.w / W) + '%'; d.style.height = (100 * r.h / H) + '%';
    d.hidden = false;
  }
  function controls(box) { return box.closest('.card').querySelector('.focus'); }
  function save(box, region) {
    var ui = controls(box), status = ui.querySelector('.focus-status');
    status.textContent = 'saving…';
    report.dataset.state = 'saving';
    return fetch('/analysis?id=' + encodeURIComponent(box.dataset.id), {
      method: 'PUT', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({region: region})
    }).then(function (res) {
      return res.json().then(function (doc) { return {status: res.status, doc: doc}; });
    }).then(function (out) {
      var ok = out.status === 200, r = out.doc.region;
      var text = r ? [r.x, r.y, r.w, r.h].join(',') : '';
      var saved = 'region ' + (text || 'none') + ' (' + out.doc.regionOrigin + '); reload to see the crops';
      status.textContent = ok ? saved : ('refused: ' + ((out.doc.error || {}).message || out.status));
      report.dataset.state = ok ? 'saved' : 'failed';
      report.dataset.region = text;
      report.dataset.origin = out.doc.regionOrigin || '';
      report.textContent = box.dataset.id + ': ' + status.textContent;
    }).catch(function (err) {
      status.textContent = 'failed: ' + err; report.dataset.state = 'failed';
    });
  }
  var boxes = Array.prototype.slice.call(document.querySelectorAll('.original[data-id]'));
  boxes = boxes.filter(function (box) { return controls(box) && controls(box).querySelector('.focus-save'); });
  boxes.forEach(function (box) {
    var start = null, ui = controls(box);
    box.addEventListener('pointerdown', function (e) {
      e.preventDefault(); start = frac(box, e);
      try { box.setPointerCapture(e.pointerId); } catch (ignored) { /* a replayed pointer */ }
    });
    box.addEventListener('pointermove', function (e) { if (start) { draw(box, toRegion(box, start, frac(box, e))); } });
    box.addEventListener('pointerup', function (e) {
      if (!start) { return; }
      var r = toRegion(box, start, frac(box, e)); start = null;
      box.dataset.pending = JSON.stringify(r); draw(box, r);
      ui.querySelector('.focus-save').disabled = false;
    });
    ui.querySelector('.focus-save').addEventListener('click', function () {
      if (box.dataset.pending) { save(box, JSON.parse(box.dataset.pending)); }
    });
    ui.querySelector('.focus-clear').addEventListener('click', function () { save(box, null); });
  });
  var m = /[?&]drag=([^&]*)/.exec(location.search);
  if (!m) { return; }
  window.addEventListener('load', function () {
    var spec = decodeURIComponent(m[1]), cut = spec.lastIndexOf(':');
    var id = spec.slice(0, cut), f = spec.slice(cut + 1).split(',').map(Number);
    var box = boxes.filter(function (b) { return b.dataset.id === id; })[0];
    if (!box) { report.dataset.state = 'no-such-image'; return; }
    var r = box.getBoundingClientRect();
    function send(type, fx, fy) {
      box.dispatchEvent(new PointerEvent(type, {bubbles: true, cancelable: true, pointerId: 7, isPrimary: true,
        clientX: r.left + fx * r.width, clientY: r.top + fy * r.height}));
    }
    send('pointerdown', f[0], f[1]);
    send('pointermove', (f[0] + f[2]) / 2, (f[1] + f[3]) / 2);
    send('pointermove', f[2], f[3]);
    send('pointerup', f[2], f[3]);
    controls(box).querySelector('.focus-save').click();
  });
})();
"""


def original_attributes(image_id: str, size: Size) -> str:
    """Attributes of the ``.original`` element the drag needs."""
    return f' data-id="{html.escape(image_id)}" data-width="{size.width}" data-height="{size.height}"'


def overlays(manual: Box | None, style: str) -> str:
    """The drag's draft box, and the stored manual region (``style`` positions it)."""
    saved = f'<div class="manual" style="{style}"></div>' if manual is not None else ""
    return '<div class="draft" hidden></div>' + saved


def controls(signed: bool) -> str:
    if signed:
        return (
            '<div class="focus"><span class="focus-status">signed URLs: set regions with '
            "<code>smartthumb focus</code></span></div>"
        )
    return (
        '<div class="focus"><button class="focus-save" disabled>Save region</button>'
        '<button class="focus-clear">Clear</button>'
        '<span class="focus-status">drag on the image to mark what the crops must keep</span></div>'
    )


def report() -> str:
    return '<pre id="focus-report" data-state="idle"></pre>'
