"""XMP bombs: hostile metadata gives no region, cheaply, under a real memory limit.

Every bomb below hides a perfectly good MWG face region next to the attack,
so each test fails if its guard is removed (the region would then be
found, or the process would run out of memory), not only if parsing breaks.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from functools import cache
from pathlib import Path

import pytest
from PIL import Image

from smartthumb.embedded_regions import MAX_REGIONS, read_embedded_regions
from smartthumb.geometry import Size
from smartthumb.xmp import MAX_DEPTH, MAX_ELEMENTS, MAX_PACKET_BYTES, MAX_SEGMENTS, XmpRefused, parse_packet
from tests.conftest import REPO
from tests.xmp_builders import (
    HEAD,
    NS,
    TAIL,
    Mwg,
    extended_segments,
    jpeg_with_xmp,
    mwg_description,
    mwg_xmp,
    packet,
    png_with_xmp,
    splice_after_soi,
)

SIZE = Size(64, 48)
IMAGE = Image.new("RGB", (64, 48), (200, 180, 160))
FACE = Mwg(0.5, 0.5, 0.25, 0.25)
GOOD = mwg_description([FACE])


def _with_doctype(doctype: str, description: str = GOOD) -> bytes:
    """A packet with a DOCTYPE between the xpacket PI and the root element."""
    pi, rest = HEAD.split("\n", 1)
    return (pi + "\n" + doctype + "\n" + rest + description + TAIL).encode()


def _png_itxt(image: Image.Image, payload: bytes, *, compressed: bool) -> bytes:
    """A PNG whose iTXt XMP chunk carries ``payload`` as is (already deflated when ``compressed``)."""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    plain = buf.getvalue()
    body = b"XML:com.adobe.xmp\x00" + bytes([1 if compressed else 0, 0]) + b"\x00\x00" + payload
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body))
    return plain[:33] + chunk + plain[33:]  # after the 8-byte signature and the 25-byte IHDR


def _inflating_to(size: int, head: bytes) -> bytes:
    comp = zlib.compressobj(9)
    parts = [comp.compress(head)]
    block = b" " * (1 << 20)
    for _ in range(size // len(block)):
        parts.append(comp.compress(block))
    parts.append(comp.flush())
    return b"".join(parts)


@cache
def bombs() -> dict[str, bytes]:
    entities = ['<!ENTITY l0 "lol">'] + [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)]
    billion = "<!DOCTYPE x:xmpmeta [" + "".join(entities) + "]>"
    named = GOOD.replace('mwg-rs:Name="Someone"', 'mwg-rs:Name="&l9;"')
    deep = "<a>" * (MAX_ELEMENTS - 1000) + "</a>" * (MAX_ELEMENTS - 1000)  # under the element limit
    many_elements = f'<rdf:Description rdf:about="" {NS}>' + "<xmp:Label/>" * (MAX_ELEMENTS + 1) + "</rdf:Description>"
    many_regions = [Mwg(0.5, 0.5, 0.1, 0.1)] * (MAX_REGIONS * 50)
    guid = "0123456789ABCDEF0123456789ABCDEF"
    pointer = packet(f'<rdf:Description rdf:about="" {NS} xmpNote:HasExtendedXMP="{guid}"/>')
    huge_ext = extended_segments(packet(GOOD, wrapper=False), guid, declared=0xFFFFFFF0)
    return {
        # Entity expansion ("billion laughs"): 10^9 bytes from a few hundred.
        "billion-laughs.jpg": jpeg_with_xmp(IMAGE, _with_doctype(billion, named)),
        # One harmless internal entity used as a coordinate: the region exists
        # only if entities are expanded, so this fails without forbid_dtd.
        "entity-in-coordinate.jpg": jpeg_with_xmp(
            IMAGE, _with_doctype('<!DOCTYPE x:xmpmeta [<!ENTITY half "0.5">]>', GOOD.replace('"0.5"', '"&half;"'))
        ),
        # External entity (XXE) and an external DTD: nothing is fetched or read.
        "external-entity.jpg": jpeg_with_xmp(
            IMAGE,
            _with_doctype(
                '<!DOCTYPE x:xmpmeta [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>',
                GOOD.replace('mwg-rs:Name="Someone"', 'mwg-rs:Name="&xxe;"'),
            ),
        ),
        "external-dtd.jpg": jpeg_with_xmp(
            IMAGE, _with_doctype('<!DOCTYPE x:xmpmeta SYSTEM "http://127.0.0.1:9/x.dtd">')
        ),
        # Deep nesting after a good region: refused as a whole.
        "deep-nesting.png": png_with_xmp(IMAGE, packet(GOOD, deep)),
        "many-elements.png": png_with_xmp(IMAGE, packet(GOOD, many_elements)),
        "many-regions.png": png_with_xmp(IMAGE, mwg_xmp(many_regions)),
        # A 24 MB packet starting with a good region: skipped unread.
        "huge-packet.png": _png_itxt(IMAGE, packet(GOOD) + b" " * (24 << 20), compressed=False),
        # 300 MB of XMP deflated to a few hundred KB.
        "inflate-bomb.png": _png_itxt(IMAGE, _inflating_to(300 << 20, packet(GOOD)), compressed=True),
        # Extended XMP that declares a 4 GB packet.
        "extended-4gb.jpg": splice_after_soi(jpeg_with_xmp(IMAGE, pointer), huge_ext),
        # More segments than are walked, before the XMP.
        "many-segments.jpg": splice_after_soi(
            jpeg_with_xmp(IMAGE, mwg_xmp([FACE])), [b"\xff\xfe\x00\x02"] * (MAX_SEGMENTS + 1)
        ),
    }


def test_the_good_region_alone_is_found() -> None:
    """The control: what every bomb hides is a region when it stands alone."""
    for data in (jpeg_with_xmp(IMAGE, mwg_xmp([FACE])), png_with_xmp(IMAGE, mwg_xmp([FACE]))):
        assert len(read_embedded_regions(data, SIZE)) == 1


@pytest.mark.parametrize("name", sorted(bombs()))
def test_an_xmp_bomb_gives_no_region(name: str) -> None:
    assert read_embedded_regions(bombs()[name], SIZE) == ()


@pytest.mark.parametrize(
    ("packet_bytes", "why"),
    [
        (_with_doctype('<!DOCTYPE x:xmpmeta [<!ENTITY a "b">]>'), "DTD"),
        (packet("<a>" * (MAX_DEPTH + 1) + "</a>" * (MAX_DEPTH + 1)), "deeper"),
        (b"<a>" + b"<b/>" * (MAX_ELEMENTS + 1) + b"</a>", "more than"),
        (b"<a>" + b" " * MAX_PACKET_BYTES + b"</a>", "over"),
        (b"<a><b></a>", "well-formed"),
    ],
    ids=["dtd", "depth", "elements", "size", "malformed"],
)
def test_parse_packet_names_what_it_refused(packet_bytes: bytes, why: str) -> None:
    with pytest.raises(XmpRefused, match=why):
        parse_packet(packet_bytes)


def test_nesting_at_the_depth_limit_is_still_parsed() -> None:
    root = parse_packet(b"<a>" * MAX_DEPTH + b"</a>" * MAX_DEPTH)
    assert root.tag == "a"


CHILD = r"""
import json, resource, sys
from smartthumb.embedded_regions import read_embedded_regions
from smartthumb.geometry import Size
from smartthumb.xmp import parse_packet
parse_packet(b"<a/>")  # imports defusedxml before the limit
names = sys.argv[2:]
blobs = [open(f"{sys.argv[1]}/{n}", "rb").read() for n in names]
with open("/proc/self/status") as fh:
    vm_kb = int(next(line for line in fh if line.startswith("VmSize:")).split()[1])
limit = vm_kb * 1024 + 64 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
out = {}
for name, data in zip(names, blobs):
    try:
        out[name] = len(read_embedded_regions(data, Size(64, 48), 1))
    except MemoryError:
        out[name] = "MemoryError"
print(json.dumps(out))
"""


@pytest.mark.slow
def test_xmp_bombs_stay_within_a_real_memory_limit(tmp_path: Path) -> None:
    """All bombs in one child process whose address space is capped at what
    it had after loading them plus 64 MB: each must give no region there."""
    for name, data in bombs().items():
        (tmp_path / name).write_bytes(data)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), *sorted(bombs())],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(REPO / "layers" / "imaging" / "python"), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == dict.fromkeys(sorted(bombs()), 0)


@pytest.mark.model
def test_an_upload_with_an_xmp_bomb_is_analysed_without_its_metadata() -> None:
    """The image itself is fine: the analysis runs, and the bomb's region is not used."""
    from smartthumb.analysis.analyzer import analyze_image
    from smartthumb.config import Settings

    settings = Settings()
    good = analyze_image(jpeg_with_xmp(IMAGE, mwg_xmp([FACE])), [1.0], settings)
    assert good.region_origin == "embedded" and len(good.embedded) == 1
    for name in ("billion-laughs.jpg", "entity-in-coordinate.jpg", "deep-nesting.png", "huge-packet.png"):
        analysis = analyze_image(bombs()[name], [1.0], settings)
        assert analysis.embedded == () and analysis.region_origin != "embedded", name
