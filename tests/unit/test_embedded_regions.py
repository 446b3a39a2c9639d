"""Embedded regions (MWG and IPTC, in JPEG, PNG and WebP XMP) -> oriented source pixels."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from smartthumb.embedded_regions import (
    EmbeddedRegion,
    read_embedded_regions,
    region_of_interest,
)
from smartthumb.geometry import Box, Size, from_stored_rect
from smartthumb.render import stored_box
from smartthumb.xmp import find_packets
from tests.conftest import as_stored
from tests.xmp_builders import (
    NS,
    Iptc,
    Mwg,
    extended_segments,
    iptc_description,
    iptc_xmp,
    jpeg_with_xmp,
    mwg_description,
    mwg_xmp,
    packet,
    png_with_xmp,
    splice_after_soi,
    webp_with_xmp,
)

SIZE = Size(400, 300)
BLANK = Image.new("RGB", (400, 300), (90, 120, 150))
#: A face region centred at (100, 150), 40x60: pixels 80..120 x 120..180.
FACE = Mwg(0.25, 0.5, 0.1, 0.2)
FACE_BOX = Box(80, 120, 40, 60)


def boxes(regions: tuple[EmbeddedRegion, ...]) -> list[Box]:
    return [r.box for r in regions]


@pytest.mark.parametrize(
    "data",
    [
        jpeg_with_xmp(BLANK, mwg_xmp([FACE], (400, 300))),
        png_with_xmp(BLANK, mwg_xmp([FACE], (400, 300))),
        png_with_xmp(BLANK, mwg_xmp([FACE], (400, 300)), compressed=True),
        webp_with_xmp(BLANK, mwg_xmp([FACE], (400, 300))),
    ],
    ids=["jpeg-app1", "png-itxt", "png-itxt-compressed", "webp-xmp-chunk"],
)
def test_an_mwg_face_is_read_from_every_container(data: bytes) -> None:
    (region,) = read_embedded_regions(data, SIZE)
    assert region == EmbeddedRegion(FACE_BOX, "face", "mwg", "Someone")


def test_attribute_and_element_forms_of_the_same_regions_agree() -> None:
    regions = [FACE, Mwg(0.7, 0.3, 0.2, 0.2, type="Pet", name="Rex")]
    as_attributes = read_embedded_regions(jpeg_with_xmp(BLANK, mwg_xmp(regions, (400, 300))), SIZE)
    as_elements = read_embedded_regions(jpeg_with_xmp(BLANK, mwg_xmp(regions, (400, 300), elements=True)), SIZE)
    assert as_attributes == as_elements
    assert [(r.kind, r.name) for r in as_elements] == [("face", "Someone"), ("pet", "Rex")]
    assert as_elements[1].box == Box(240, 60, 80, 60)


def test_mwg_types_map_to_kinds_and_barcodes_are_skipped() -> None:
    regions = [FACE, Mwg(0.5, 0.5, 0.1, 0.1, type="Focus"), Mwg(0.8, 0.8, 0.1, 0.1, type="BarCode")]
    found = read_embedded_regions(jpeg_with_xmp(BLANK, mwg_xmp(regions)), SIZE)
    assert [r.kind for r in found] == ["face", "focus"]


def test_regions_are_clipped_to_the_image_and_empty_or_outside_ones_dropped() -> None:
    regions = [
        Mwg(0.0, 0.0, 0.2, 0.2),  # centred on the corner: the quarter inside is kept
        Mwg(1.5, 0.5, 0.2, 0.2),  # wholly outside
        Mwg(0.5, 0.5, 0.0, 0.1),  # empty
        Mwg(float("nan"), 0.5, 0.1, 0.1),
        Mwg(0.5, 0.5, float("inf"), 0.1),
    ]
    found = read_embedded_regions(jpeg_with_xmp(BLANK, mwg_xmp(regions)), SIZE)
    assert boxes(found) == [Box(0, 0, 40, 30)]


def test_pixel_units_count_pixels_of_the_applied_to_dimensions() -> None:
    """An export at half the original's size: regions drawn on 800x600 still land on the face."""
    face = Mwg(200, 300, 80, 120, unit="pixel")
    found = read_embedded_regions(jpeg_with_xmp(BLANK, mwg_xmp([face], (800, 600))), SIZE)
    assert boxes(found) == [FACE_BOX]


def _marker_scene() -> tuple[Image.Image, Box]:
    """An upright 300x200 scene with a red marker at a known, asymmetric spot."""
    upright = Image.new("RGB", (300, 200), (20, 20, 20))
    marker = Box(30, 120, 50, 40)
    ImageDraw.Draw(upright).rectangle((marker.x, marker.y, marker.right - 1, marker.bottom - 1), fill=(255, 0, 0))
    return upright, marker


def _red_bbox(image: Image.Image) -> tuple[int, int, int, int]:
    red = image.convert("RGB").split()[0].point(lambda v: 255 if v > 128 else 0)
    bbox = red.getbbox()
    assert bbox is not None
    return bbox


@pytest.mark.parametrize("orientation", range(1, 9))
def test_areas_of_the_stored_image_are_turned_with_its_orientation(orientation: int) -> None:
    """MWG: "region metadata is applied to the stored image". A writer marks
    the marker where it lies in the stored pixels; we must find it where a
    viewer shows it, after the EXIF orientation."""
    upright, marker = _marker_scene()
    stored = as_stored(upright, orientation)
    x0, y0, x1, y1 = _red_bbox(stored)
    W, H = stored.size
    area = Mwg((x0 + x1) / 2 / W, (y0 + y1) / 2 / H, (x1 - x0) / W, (y1 - y0) / H)
    data = jpeg_with_xmp(stored, mwg_xmp([area], (W, H)), orientation)
    (region,) = read_embedded_regions(data, Size(W, H), orientation)
    assert region.box == marker


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_dimensions_of_the_displayed_image_say_the_area_is_already_oriented(orientation: int) -> None:
    upright, marker = _marker_scene()
    stored = as_stored(upright, orientation)
    area = Mwg((marker.x + marker.w / 2) / 300, (marker.y + marker.h / 2) / 200, marker.w / 300, marker.h / 200)
    data = jpeg_with_xmp(stored, mwg_xmp([area], (300, 200)), orientation)  # upright proportions
    (region,) = read_embedded_regions(data, Size(*stored.size), orientation)
    assert region.box == marker


@given(
    orientation=st.integers(1, 8),
    w=st.integers(1, 60),
    h=st.integers(1, 60),
    data=st.data(),
)
def test_from_stored_rect_inverts_render_stored_box(orientation: int, w: int, h: int, data: st.DataObject) -> None:
    stored = Size(60, 40)
    oriented = Size(40, 60) if orientation >= 5 else stored
    bw = data.draw(st.integers(1, oriented.width))
    bh = data.draw(st.integers(1, oriented.height))
    box = Box(data.draw(st.integers(0, oriented.width - bw)), data.draw(st.integers(0, oriented.height - bh)), bw, bh)
    x0, y0, x1, y1 = stored_box(box, stored, orientation)
    assert from_stored_rect((x0, y0, x1, y1), stored, orientation) == (box.x, box.y, box.right, box.bottom)


def test_iptc_shapes_and_units() -> None:
    regions = [
        Iptc("rectangle", "relative", x=0.2, y=0.4, w=0.1, h=0.2),
        Iptc("rectangle", "pixel", x=300, y=30, w=50, h=40, ctype="http://cv.iptc.org/newscodes/imageregiontype/face"),
        Iptc("circle", "relative", x=0.5, y=0.5, rx=0.05),  # radius: 5 % of the width, 20 px both ways
        Iptc("polygon", "pixel", vertices=((10, 250), (60, 240), (40, 290))),
        Iptc("ellipse", "pixel", x=1, y=1, w=5, h=5),  # not a shape the standard has
    ]
    found = read_embedded_regions(jpeg_with_xmp(BLANK, iptc_xmp(regions)), SIZE)
    assert [(r.box, r.kind, r.scheme) for r in found] == [
        (FACE_BOX, "subject", "iptc"),
        (Box(300, 30, 50, 40), "face", "iptc"),
        (Box(180, 130, 40, 40), "subject", "iptc"),
        (Box(10, 240, 50, 50), "subject", "iptc"),
    ]
    assert found[0].name == "Subject"


def test_iptc_regions_are_in_the_stored_frame_too() -> None:
    upright, marker = _marker_scene()
    stored = as_stored(upright, 6)
    x0, y0, x1, y1 = _red_bbox(stored)
    region = Iptc("rectangle", "pixel", x=x0, y=y0, w=x1 - x0, h=y1 - y0)
    (found,) = read_embedded_regions(jpeg_with_xmp(stored, iptc_xmp([region]), 6), Size(*stored.size), 6)
    assert found.box == marker


def test_regions_in_extended_xmp_are_reassembled_from_its_chunks() -> None:
    guid = "0123456789ABCDEF0123456789ABCDEF"
    main = packet(f'<rdf:Description rdf:about="" {NS} xmpNote:HasExtendedXMP="{guid}"/>\n')
    padding = "<!-- " + "develop history " * 8000 + "-->\n"  # pushes the regions past one segment
    extended = packet(padding, mwg_description([FACE]), wrapper=False)
    segments = extended_segments(extended, guid)
    assert len(segments) >= 3
    jpeg = jpeg_with_xmp(BLANK, main)
    shuffled = [segments[-1], *segments[:-1]]  # chunks may come in any order
    (region,) = read_embedded_regions(splice_after_soi(jpeg, shuffled), SIZE)
    assert region.box == FACE_BOX
    # Chunks of another GUID, or an incomplete set, are not used.
    other = extended_segments(extended, "F" * 32)
    assert read_embedded_regions(splice_after_soi(jpeg, other), SIZE) == ()
    assert read_embedded_regions(splice_after_soi(jpeg, segments[:-1]), SIZE) == ()


def test_mwg_and_iptc_regions_of_one_image_are_both_read() -> None:
    both = packet(mwg_description([FACE]), iptc_description([Iptc(x=0.6, y=0.1, w=0.2, h=0.2)]))
    found = read_embedded_regions(jpeg_with_xmp(BLANK, both), SIZE)
    assert [(r.scheme, r.box) for r in found] == [("mwg", FACE_BOX), ("iptc", Box(240, 30, 80, 60))]


def test_region_of_interest_prefers_faces_and_unites_them() -> None:
    face_a = EmbeddedRegion(Box(10, 10, 20, 20), "face", "mwg")
    face_b = EmbeddedRegion(Box(200, 50, 30, 30), "face", "mwg")
    focus = EmbeddedRegion(Box(100, 200, 10, 10), "focus", "mwg")
    assert region_of_interest([face_a, focus, face_b]) == Box(10, 10, 220, 70)
    assert region_of_interest([focus]) == focus.box
    assert region_of_interest([]) is None


def test_images_without_xmp_or_without_regions_have_none() -> None:
    plain = jpeg_with_xmp(BLANK, packet(f'<rdf:Description rdf:about="" {NS}/>'))
    assert read_embedded_regions(plain, SIZE) == ()

    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"):
        buf = io.BytesIO()
        BLANK.save(buf, fmt)
        assert list(find_packets(buf.getvalue())) == []
        assert read_embedded_regions(buf.getvalue(), SIZE) == ()


@pytest.mark.parametrize("dims", [("1e-300", "1e300"), ("5e-324", "300"), ("1e300", "1e-300"), ("0.5", "0.5")])
@pytest.mark.parametrize("orientation", [1, 6])
def test_applied_to_dimensions_no_image_has_are_ignored(dims: tuple[str, str], orientation: int) -> None:
    """A side under a pixel (a ratio that underflows to 0 once made it raise a math domain error
    in every analysis door): the areas are taken in the stored frame, as without dimensions."""
    stored = Size(400, 300)
    data = jpeg_with_xmp(BLANK, mwg_xmp([FACE], dims), orientation=orientation)  # type: ignore[arg-type]
    assert read_embedded_regions(data, stored, orientation) == read_embedded_regions(
        jpeg_with_xmp(BLANK, mwg_xmp([FACE]), orientation=orientation), stored, orientation
    )


@given(
    st.tuples(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True)),
    st.integers(1, 8),
)
def test_any_applied_to_dimensions_never_raise(dims: tuple[float, float], orientation: int) -> None:
    data = jpeg_with_xmp(BLANK, mwg_xmp([FACE, Mwg(200, 150, 40, 30, unit="pixel")], dims), orientation=orientation)
    for region in read_embedded_regions(data, SIZE, orientation):
        assert region.box.w > 0 and region.box.h > 0
