"""``--draw``: the image with every crop box drawn and labelled, faces and
region of interest marked (a visual check of an analysis)."""

from __future__ import annotations

import io
from pathlib import Path

from smartthumb.analysis.analyzer import Analysis

#: Distinct colours for successive crop boxes.
PALETTE = ((255, 64, 64), (64, 160, 255), (255, 200, 0), (170, 90, 255), (0, 200, 120), (255, 120, 200))
FACE_COLOUR = (0, 255, 0)
ROI_COLOUR = (255, 255, 255)


def render(data: bytes, analysis: Analysis) -> bytes:
    """PNG bytes of the oriented source with the analysis drawn over it."""
    from PIL import Image, ImageDraw, ImageFont, ImageOps

    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    if image.size != (analysis.width, analysis.height):
        image = image.resize((analysis.width, analysis.height))
    draw = ImageDraw.Draw(image)
    line = max(2, round(max(image.size) / 300))
    font = ImageFont.load_default(size=max(12, round(max(image.size) / 40)))

    if analysis.roi is not None:
        r = analysis.roi
        # Dashed outline for the region of interest.
        dash = line * 4
        for x in range(r.x, r.right, dash * 2):
            draw.line([(x, r.y), (min(x + dash, r.right), r.y)], fill=ROI_COLOUR, width=line)
            draw.line([(x, r.bottom - 1), (min(x + dash, r.right), r.bottom - 1)], fill=ROI_COLOUR, width=line)
        for y in range(r.y, r.bottom, dash * 2):
            draw.line([(r.x, y), (r.x, min(y + dash, r.bottom))], fill=ROI_COLOUR, width=line)
            draw.line([(r.right - 1, y), (r.right - 1, min(y + dash, r.bottom))], fill=ROI_COLOUR, width=line)
        draw.text((r.x + line * 2, r.y + line * 2), "ROI", fill=ROI_COLOUR, font=font)

    for face in analysis.faces:
        b = face.box
        draw.rectangle(b.as_tuple(), outline=FACE_COLOUR, width=line)
        for px, py in face.landmarks:
            draw.ellipse((px - line, py - line, px + line, py + line), fill=FACE_COLOUR)
        draw.text((b.x, max(0, b.y - font.size - line)), f"face {face.score:.2f}", fill=FACE_COLOUR, font=font)

    for i, (ratio, b) in enumerate(analysis.crops):
        colour = PALETTE[i % len(PALETTE)]
        # Boxes sharing an edge stay visible; a box a few pixels thin (a 1x65535 image) keeps an outline.
        inset = min(i * line, (b.w - 1) // 2, (b.h - 1) // 2)
        draw.rectangle(
            (b.x + inset, b.y + inset, b.right - 1 - inset, b.bottom - 1 - inset), outline=colour, width=line
        )
        label = f"{ratio:g}"
        tx, ty = b.x + inset + line * 2, b.bottom - inset - font.size - line * 3
        bbox = draw.textbbox((tx, ty), label, font=font)
        draw.rectangle(bbox, fill=(0, 0, 0))
        draw.text((tx, ty), label, fill=colour, font=font)

    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def write(path: str | Path, data: bytes, analysis: Analysis) -> None:
    Path(path).write_bytes(render(data, analysis))
