"""Source bytes to an encoded thumbnail in one call (the CLI's file mode, tests, the benchmark).

The service (:mod:`smartthumb.service`) runs the same steps with a source
store, ETags, regions and a deadline in between.
"""

from __future__ import annotations

from collections.abc import Collection

from smartthumb.config import Settings
from smartthumb.geometry import Box, plan_thumbnail
from smartthumb.render.encode import CONTENT_TYPES, choose_format, encode
from smartthumb.render.execute import execute
from smartthumb.render.open import open_image
from smartthumb.request import ThumbRequest


def render_bytes(
    data: bytes,
    request: ThumbRequest,
    settings: Settings,
    *,
    region: Box | None = None,
    accepted: Collection[str] = (),
    fmt: str | None = None,
) -> tuple[bytes, str]:
    """Source bytes to encoded thumbnail in one call: ``(encoded, format)``.

    ``fmt`` forces the output format (the CLI's ``-o out.png``); otherwise it
    is chosen as the service would from ``accepted`` (see :func:`choose_format`).
    """
    opened = open_image(data, settings)
    plan = plan_thumbnail(opened.size, request.width, request.height, request.crop, request.pad, region)
    image = execute(opened, plan, request.pad_color)
    out_fmt = (fmt or choose_format(opened, accepted, settings, request.pad_color)).upper()
    if out_fmt not in CONTENT_TYPES:
        raise ValueError(f"unknown output format {out_fmt!r}")
    quality = request.quality or settings.default_quality
    return encode(image, out_fmt, quality, opened.icc_profile, settings.max_output_bytes), out_fmt
