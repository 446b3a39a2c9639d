"""Face and focus regions that cameras and photo tools embed in XMP. Pure: no Pillow here.

Two vocabularies are read (from the packets :mod:`smartthumb.xmp` finds and
parses with its bounds):

* **MWG regions** (``mwg-rs:Regions``), as Lightroom, Picasa, digiKam and
  Apple Photos write them: each ``RegionList`` item has a ``Type`` (``Face``,
  ``Pet``, ``Focus``, ``BarCode``) and an ``Area`` whose ``stArea:x/y`` is the
  *centre* and ``stArea:w/h`` the extent, normalised to the image the
  regions were applied to (``AppliedToDimensions``, ``stDim:w/h``).
  ``BarCode`` regions are not a subject and are skipped.
* **IPTC Image Region** (``Iptc4xmpExt:ImageRegion``): each item has a
  ``RegionBoundary`` with ``rbShape`` (``rectangle`` from its top-left
  ``rbX/rbY`` and ``rbW/rbH``; ``circle`` from its centre and ``rbRx``;
  ``polygon`` from its ``rbVertices``, taken as their bounding box) in
  ``rbUnit`` ``pixel`` or ``relative`` (fractions of the width and height;
  a circle's ``rbRx`` is a fraction of the width, as the standard says).
  An item whose ``rCtype`` or ``rRole`` names a face is a face, any other
  a subject.

**Orientation rule.** The MWG guidelines (2.0, "Image Region Metadata")
apply region metadata to the *stored* image: a viewer that turns the image
by its EXIF orientation must turn the regions with it. So areas are read in
the stored frame and mapped through the orientation to oriented source
pixels (the frame every box in this service uses) -- unless the
orientation swaps the sides and ``AppliedToDimensions`` has the proportions
of the *oriented* image rather than the stored one, which says the writer
applied the regions to the image as displayed: then the area is already
oriented. IPTC boundaries have no such dimensions and are read in the
stored frame, like MWG's. Pixel units count pixels of the applied-to
dimensions when given (scaled to the image: an export may be smaller than
the original the regions were drawn on), else of the stored image.

Regions partly outside the image are clipped to it; empty, non-finite or
wholly outside ones are dropped. A list of more than :data:`MAX_REGIONS`
regions is not used at all: real metadata names tens of faces, thousands
are an attack on the placement's work.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from smartthumb.geometry import Box, Size, from_stored_rect, oriented_size
from smartthumb.xmp import parsed_packets

log = logging.getLogger("smartthumb.embedded_regions")

#: Most regions one list (an MWG RegionList or an IPTC ImageRegion) may have.
MAX_REGIONS = 100

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
XMP = "http://ns.adobe.com/xap/1.0/"

#: MWG ``Type`` -> our kind; types not listed are skipped (``BarCode``).
MWG_KINDS = {"face": "face", "pet": "pet", "focus": "focus", "": "subject"}


@dataclass(frozen=True, slots=True)
class EmbeddedRegion:
    """One embedded region, in oriented source pixels, clipped to the image.

    ``kind`` is ``face``, ``pet``, ``focus`` or ``subject``; ``scheme`` is
    ``mwg`` or ``iptc``; ``name`` is the person's or region's name, if any.
    """

    box: Box
    kind: str
    scheme: str
    name: str = ""

    def to_dict(self) -> dict[str, object]:
        b = self.box
        return {"box": [b.x, b.y, b.w, b.h], "kind": self.kind, "scheme": self.scheme, "name": self.name}


def read_embedded_regions(data: bytes, stored: Size, orientation: int = 1) -> tuple[EmbeddedRegion, ...]:
    """The regions embedded in ``data`` (a JPEG, PNG or WebP file).

    ``stored`` is the size of the pixels as encoded and ``orientation`` the
    EXIF orientation (1..8) still to apply; both come from the image header.
    Never raises for bad metadata: it gives fewer (or no) regions.
    """
    found: list[EmbeddedRegion] = []
    for root in parsed_packets(data):
        found.extend(regions_in(root, stored, orientation))
    unique: dict[tuple[Box, str], EmbeddedRegion] = {}
    for region in found:
        unique.setdefault((region.box, region.kind), region)
    return tuple(unique.values())


def regions_in(root: Element, stored: Size, orientation: int = 1) -> list[EmbeddedRegion]:
    """The MWG and IPTC regions of one parsed XMP packet."""
    return [*_mwg_regions(root, stored, orientation), *_iptc_regions(root, stored, orientation)]


def region_of_interest(regions: Iterable[EmbeddedRegion]) -> Box | None:
    """What the embedded regions ask the crop to keep: the union of the
    faces if there is one, else of every region (pets, focus, subjects)."""
    regions = list(regions)
    faces = [r.box for r in regions if r.kind == "face"]
    return union(faces or [r.box for r in regions])


def union(boxes: Iterable[Box]) -> Box | None:
    boxes = list(boxes)
    if not boxes:
        return None
    x0, y0 = min(b.x for b in boxes), min(b.y for b in boxes)
    x1, y1 = max(b.right for b in boxes), max(b.bottom for b in boxes)
    return Box(x0, y0, x1 - x0, y1 - y0)


# --------------------------------------------------------------------- frames


def _to_box(rect: tuple[float, float, float, float], size: Size) -> Box | None:
    """Round outward to whole pixels and clip to ``size``; ``None`` if nothing is left."""
    if not all(math.isfinite(v) for v in rect):
        return None
    x0 = max(0, math.floor(rect[0] + 1e-6))
    y0 = max(0, math.floor(rect[1] + 1e-6))
    x1 = min(size.width, math.ceil(rect[2] - 1e-6))
    y1 = min(size.height, math.ceil(rect[3] - 1e-6))
    if x1 <= x0 or y1 <= y0:
        return None
    return Box(x0, y0, x1 - x0, y1 - y0)


def _place(rect: tuple[float, float, float, float], oriented: bool, stored: Size, orientation: int) -> Box | None:
    """A rect in the stored pixel grid (or, with ``oriented``, already in the
    oriented one) -> a box in oriented source pixels, clipped."""
    if rect[2] <= rect[0] or rect[3] <= rect[1]:
        return None
    if not oriented:
        rect = from_stored_rect(rect, stored, orientation)
    return _to_box(rect, oriented_size(stored, orientation))


# ------------------------------------------------------------------ RDF access


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _struct_nodes(elem: Element) -> list[Element]:
    """Where a struct's fields may be: on the property element itself
    (attributes, or children under ``rdf:parseType="Resource"``) or on an
    ``rdf:Description`` inside it."""
    return [elem, *elem.findall(_q(RDF, "Description"))]


def _field(elem: Element, ns: str, name: str) -> Element | str | None:
    for node in _struct_nodes(elem):
        value = node.get(_q(ns, name))
        if value is not None:
            return value
        child = node.find(_q(ns, name))
        if child is not None:
            return child
    return None


def _text(elem: Element, ns: str, name: str) -> str:
    """A simple field's text ("" when absent); for a language alternative, its first item."""
    value = _field(elem, ns, name)
    if isinstance(value, str):
        return value.strip()
    if value is None:
        return ""
    resource = value.get(_q(RDF, "resource"))
    if resource:
        return resource.strip()
    if value.text and value.text.strip():
        return value.text.strip()
    first = next(iter(_array_items(value)), None)
    return (first.text or "").strip() if first is not None else ""


def _number(elem: Element, ns: str, name: str) -> float | None:
    try:
        value = float(_text(elem, ns, name))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _array_items(prop: Element) -> list[Element]:
    """The ``rdf:li`` items of an array property (``rdf:Bag``, ``Seq`` or ``Alt``)."""
    items: list[Element] = []
    for container in prop:
        if container.tag in (_q(RDF, "Bag"), _q(RDF, "Seq"), _q(RDF, "Alt")):
            items.extend(container.findall(_q(RDF, "li")))
    return items


def _bounded(items: list[Element], what: str) -> list[Element]:
    if len(items) > MAX_REGIONS:
        log.info("%s with %d regions ignored (limit %d)", what, len(items), MAX_REGIONS)
        return []
    return items


# ------------------------------------------------------------------------ MWG


def _mwg_regions(root: Element, stored: Size, orientation: int) -> Iterator[EmbeddedRegion]:
    for regions in root.iter(_q(MWG_RS, "Regions")):
        frame, oriented, scale = _mwg_frame(regions, stored, orientation)
        region_list = _field(regions, MWG_RS, "RegionList")
        if not isinstance(region_list, Element):
            continue
        for item in _bounded(_array_items(region_list), "mwg-rs:RegionList"):
            kind = MWG_KINDS.get(_text(item, MWG_RS, "Type").lower())
            area = _field(item, MWG_RS, "Area")
            if kind is None or not isinstance(area, Element):
                continue
            x, y = _number(area, ST_AREA, "x"), _number(area, ST_AREA, "y")
            w, h = _number(area, ST_AREA, "w"), _number(area, ST_AREA, "h")
            if x is None or y is None or w is None or h is None:
                continue
            if _text(area, ST_AREA, "unit").lower() == "pixel":
                sx, sy = scale
            else:  # "normalized", the only unit the guidelines define
                sx, sy = frame.width, frame.height
            rect = ((x - w / 2) * sx, (y - h / 2) * sy, (x + w / 2) * sx, (y + h / 2) * sy)
            box = _place(rect, oriented, stored, orientation)
            if box is not None:
                yield EmbeddedRegion(box, kind, "mwg", _text(item, MWG_RS, "Name"))


#: ``stDim:w``/``h`` outside these bounds are ignored (the stored frame is assumed).
MIN_APPLIED_SIDE = 1.0
MAX_APPLIED_SIDE = 1e6


def _mwg_frame(regions: Element, stored: Size, orientation: int) -> tuple[Size, bool, tuple[float, float]]:
    """The frame the areas are in (see the module's orientation rule), whether
    it is the oriented one, and for pixel units the factors from applied-to
    pixels to that frame."""
    target = oriented_size(stored, orientation)
    dims = _field(regions, MWG_RS, "AppliedToDimensions")
    w = h = None
    if isinstance(dims, Element):
        w, h = _number(dims, ST_DIM, "w"), _number(dims, ST_DIM, "h")
    if (
        w is None
        or h is None
        or not (MIN_APPLIED_SIDE <= w <= MAX_APPLIED_SIDE)
        or not (MIN_APPLIED_SIDE <= h <= MAX_APPLIED_SIDE)
    ):
        # Absent, or no pixel size a real image has (a side under one pixel, or a
        # ratio that underflows the logarithm below): the areas are the stored frame's.
        return stored, False, (1.0, 1.0)
    oriented = False
    if target != stored:  # the sides swap: do the dimensions say which frame?
        ratio = w / h
        oriented = abs(math.log(ratio / target.ratio)) < abs(math.log(ratio / stored.ratio))
    frame = target if oriented else stored
    return frame, oriented, (frame.width / w, frame.height / h)


# ----------------------------------------------------------------------- IPTC


def _iptc_regions(root: Element, stored: Size, orientation: int) -> Iterator[EmbeddedRegion]:
    for prop in root.iter(_q(IPTC_EXT, "ImageRegion")):
        for item in _bounded(_array_items(prop), "Iptc4xmpExt:ImageRegion"):
            boundary = _field(item, IPTC_EXT, "RegionBoundary")
            if not isinstance(boundary, Element):
                continue
            rect = _iptc_rect(boundary, stored)
            box = _place(rect, False, stored, orientation) if rect is not None else None
            if box is not None:
                yield EmbeddedRegion(box, _iptc_kind(item), "iptc", _text(item, IPTC_EXT, "Name"))


def _iptc_rect(boundary: Element, stored: Size) -> tuple[float, float, float, float] | None:
    unit = _text(boundary, IPTC_EXT, "rbUnit").lower()
    if unit == "relative":
        sx, sy = float(stored.width), float(stored.height)
    elif unit == "pixel":
        sx = sy = 1.0
    else:
        return None
    shape = _text(boundary, IPTC_EXT, "rbShape").lower()
    x, y = _number(boundary, IPTC_EXT, "rbX"), _number(boundary, IPTC_EXT, "rbY")
    if shape == "rectangle":
        w, h = _number(boundary, IPTC_EXT, "rbW"), _number(boundary, IPTC_EXT, "rbH")
        if x is None or y is None or w is None or h is None:
            return None
        return (x * sx, y * sy, (x + w) * sx, (y + h) * sy)
    if shape == "circle":
        r = _number(boundary, IPTC_EXT, "rbRx")
        if x is None or y is None or r is None:
            return None
        radius = r * sx  # relative radii are fractions of the width
        return (x * sx - radius, y * sy - radius, x * sx + radius, y * sy + radius)
    if shape == "polygon":
        vertices = _field(boundary, IPTC_EXT, "rbVertices")
        if not isinstance(vertices, Element):
            return None
        points = [
            (px, py)
            for v in _array_items(vertices)[: MAX_REGIONS * 10]
            if (px := _number(v, IPTC_EXT, "rbX")) is not None and (py := _number(v, IPTC_EXT, "rbY")) is not None
        ]
        if len(points) < 3:
            return None
        xs, ys = [p[0] * sx for p in points], [p[1] * sy for p in points]
        return (min(xs), min(ys), max(xs), max(ys))
    return None


def _iptc_kind(item: Element) -> str:
    """``face`` when a content type or role names a face, else ``subject``."""
    words: list[str] = []
    for prop_name in ("rCtype", "rRole"):
        prop = _field(item, IPTC_EXT, prop_name)
        if not isinstance(prop, Element):
            continue
        for entity in _array_items(prop)[:MAX_REGIONS]:
            words.append(_text(entity, IPTC_EXT, "Name"))
            words.append(_text(entity, XMP, "Identifier"))
            ids = _field(entity, IPTC_EXT, "Identifier")
            if isinstance(ids, Element):
                words.extend((li.text or "") for li in _array_items(ids)[:MAX_REGIONS])
            elif isinstance(ids, str):
                words.append(ids)
    return "face" if any("face" in w.lower() for w in words) else "subject"
