"""Build XMP packets with embedded regions, and images that carry them.

The XMP text is written here by hand (no XMP library), in the shapes real
writers use: MWG regions as digiKam and Picasa write them (struct fields as
attributes of ``rdf:Description``) or as Lightroom does (``parseType="Resource"``
with fields as child elements), and IPTC Image Regions as the IPTC's own
reference files do.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, PngImagePlugin

HEAD = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
)
TAIL = '</rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>'
NS = (
    'xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
    'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" '
    'xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#" '
    'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'xmlns:xmpNote="http://ns.adobe.com/xmp/note/" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
)


@dataclass(frozen=True)
class Mwg:
    """One MWG region: centre ``x, y`` and extent ``w, h``, normalised."""

    x: float
    y: float
    w: float
    h: float
    type: str = "Face"
    name: str = "Someone"
    unit: str = "normalized"


def mwg_description(regions: Sequence[Mwg], dims: tuple[float, float] | None = None, *, elements: bool = False) -> str:
    """An ``rdf:Description`` with ``mwg-rs:Regions``; ``elements`` writes
    fields as child elements (Lightroom) instead of attributes (digiKam)."""
    if dims is None:
        applied = ""
    elif elements:
        applied = (
            '<mwg-rs:AppliedToDimensions rdf:parseType="Resource">'
            f"<stDim:w>{dims[0]}</stDim:w><stDim:h>{dims[1]}</stDim:h><stDim:unit>pixel</stDim:unit>"
            "</mwg-rs:AppliedToDimensions>\n"
        )
    else:
        applied = f'<mwg-rs:AppliedToDimensions stDim:w="{dims[0]}" stDim:h="{dims[1]}" stDim:unit="pixel"/>\n'
    items = []
    for r in regions:
        if elements:
            items.append(
                '<rdf:li rdf:parseType="Resource">'
                f"<mwg-rs:Type>{r.type}</mwg-rs:Type><mwg-rs:Name>{r.name}</mwg-rs:Name>"
                '<mwg-rs:Area rdf:parseType="Resource">'
                f"<stArea:x>{r.x}</stArea:x><stArea:y>{r.y}</stArea:y>"
                f"<stArea:w>{r.w}</stArea:w><stArea:h>{r.h}</stArea:h><stArea:unit>{r.unit}</stArea:unit>"
                "</mwg-rs:Area></rdf:li>\n"
            )
        else:
            items.append(
                f'<rdf:li><rdf:Description mwg-rs:Name="{r.name}" mwg-rs:Type="{r.type}">'
                f'<mwg-rs:Area stArea:x="{r.x}" stArea:y="{r.y}" stArea:w="{r.w}" stArea:h="{r.h}" '
                f'stArea:unit="{r.unit}"/></rdf:Description></rdf:li>\n'
            )
    return (
        f'<rdf:Description rdf:about="" {NS}>\n<mwg-rs:Regions rdf:parseType="Resource">\n{applied}'
        f"<mwg-rs:RegionList><rdf:Bag>\n{''.join(items)}</rdf:Bag></mwg-rs:RegionList>\n"
        "</mwg-rs:Regions>\n</rdf:Description>\n"
    )


def packet(*descriptions: str, wrapper: bool = True) -> bytes:
    """An XMP packet of these ``rdf:Description`` elements; ``wrapper=False``
    leaves out the ``<?xpacket?>`` lines (as in Extended XMP)."""
    body = HEAD + "".join(descriptions) + TAIL
    if not wrapper:
        body = body.split("\n", 1)[1].rsplit("\n", 1)[0]
    return body.encode()


def mwg_xmp(regions: Sequence[Mwg], dims: tuple[float, float] | None = None, *, elements: bool = False) -> bytes:
    return packet(mwg_description(regions, dims, elements=elements))


@dataclass(frozen=True)
class Iptc:
    """One IPTC Image Region boundary (fields as the standard names them)."""

    shape: str = "rectangle"
    unit: str = "relative"
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    rx: float = 0.0
    vertices: tuple[tuple[float, float], ...] = ()
    ctype: str = "http://cv.iptc.org/newscodes/imageregiontype/human"
    role: str = "http://cv.iptc.org/newscodes/imageregionrole/mainSubjectArea"
    name: str = "Subject"


def iptc_description(regions: Sequence[Iptc]) -> str:
    items = []
    for r in regions:
        if r.shape == "rectangle":
            geometry = (
                f"<Iptc4xmpExt:rbX>{r.x}</Iptc4xmpExt:rbX><Iptc4xmpExt:rbY>{r.y}</Iptc4xmpExt:rbY>"
                f"<Iptc4xmpExt:rbW>{r.w}</Iptc4xmpExt:rbW><Iptc4xmpExt:rbH>{r.h}</Iptc4xmpExt:rbH>"
            )
        elif r.shape == "circle":
            geometry = (
                f"<Iptc4xmpExt:rbX>{r.x}</Iptc4xmpExt:rbX><Iptc4xmpExt:rbY>{r.y}</Iptc4xmpExt:rbY>"
                f"<Iptc4xmpExt:rbRx>{r.rx}</Iptc4xmpExt:rbRx>"
            )
        else:
            points = "".join(
                f'<rdf:li rdf:parseType="Resource"><Iptc4xmpExt:rbX>{px}</Iptc4xmpExt:rbX>'
                f"<Iptc4xmpExt:rbY>{py}</Iptc4xmpExt:rbY></rdf:li>"
                for px, py in r.vertices
            )
            geometry = f"<Iptc4xmpExt:rbVertices><rdf:Seq>{points}</rdf:Seq></Iptc4xmpExt:rbVertices>"
        items.append(
            '<rdf:li rdf:parseType="Resource">\n'
            '<Iptc4xmpExt:RegionBoundary rdf:parseType="Resource">'
            f"<Iptc4xmpExt:rbShape>{r.shape}</Iptc4xmpExt:rbShape><Iptc4xmpExt:rbUnit>{r.unit}</Iptc4xmpExt:rbUnit>"
            f"{geometry}</Iptc4xmpExt:RegionBoundary>\n"
            f'<Iptc4xmpExt:Name><rdf:Alt><rdf:li xml:lang="x-default">{r.name}</rdf:li></rdf:Alt></Iptc4xmpExt:Name>\n'
            '<Iptc4xmpExt:rCtype><rdf:Bag><rdf:li rdf:parseType="Resource">'
            f"<xmp:Identifier><rdf:Bag><rdf:li>{r.ctype}</rdf:li></rdf:Bag></xmp:Identifier>"
            "</rdf:li></rdf:Bag></Iptc4xmpExt:rCtype>\n"
            '<Iptc4xmpExt:rRole><rdf:Bag><rdf:li rdf:parseType="Resource">'
            f"<xmp:Identifier><rdf:Bag><rdf:li>{r.role}</rdf:li></rdf:Bag></xmp:Identifier>"
            "</rdf:li></rdf:Bag></Iptc4xmpExt:rRole>\n"
            "</rdf:li>\n"
        )
    return (
        f'<rdf:Description rdf:about="" {NS}>\n<Iptc4xmpExt:ImageRegion><rdf:Bag>\n'
        f"{''.join(items)}</rdf:Bag></Iptc4xmpExt:ImageRegion>\n</rdf:Description>\n"
    )


def iptc_xmp(regions: Sequence[Iptc]) -> bytes:
    return packet(iptc_description(regions))


# -------------------------------------------------------------------- images


def jpeg_with_xmp(image: Image.Image, xmp: bytes, orientation: int = 1, quality: int = 90) -> bytes:
    """``image`` (as stored) as a JPEG with one standard XMP APP1 and, unless
    1, an EXIF orientation tag."""
    buf = io.BytesIO()
    params: dict[str, object] = {"quality": quality, "xmp": xmp}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        params["exif"] = exif.tobytes()
    image.save(buf, "JPEG", **params)
    return buf.getvalue()


def png_with_xmp(image: Image.Image, xmp: bytes, *, compressed: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp.decode(), zip=compressed)
    buf = io.BytesIO()
    image.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def webp_with_xmp(image: Image.Image, xmp: bytes) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "WEBP", xmp=xmp, lossless=True)
    return buf.getvalue()


def app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def extended_segments(packet: bytes, guid: str, chunk: int = 60_000, *, declared: int | None = None) -> list[bytes]:
    """Extended XMP APP1 segments carrying ``packet`` in pieces of ``chunk`` bytes."""
    full = len(packet) if declared is None else declared
    head = b"http://ns.adobe.com/xmp/extension/\x00" + guid.encode()
    return [
        app1(head + struct.pack(">II", full, offset) + packet[offset : offset + chunk])
        for offset in range(0, len(packet), chunk)
    ]


def splice_after_soi(jpeg: bytes, segments: Sequence[bytes]) -> bytes:
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"".join(segments) + jpeg[2:]
