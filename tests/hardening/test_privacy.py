"""Privacy: thumbnails carry no EXIF/GPS/XMP/comments; logs carry no secrets,
signatures or image bytes."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from smartthumb import render
from smartthumb.signing import sign_query
from tests.conftest import EVENTS
from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_ingest_analyzer
from tests.hardening.conftest import BUCKET, PREFIX, body_image, shared_function

MARK = b"PRIVATE-7f3a9c"  # appears in every metadata field of the sources
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>' + MARK + b"</dc:creator>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x013B] = MARK.decode()  # Artist
    exif[0x010E] = MARK.decode()  # ImageDescription
    exif[0x0112] = 1
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 22.0, 7.5)
    gps[3] = "E"
    gps[4] = (4.0, 53.0, 41.0)
    gps[27] = MARK.decode()  # GPSProcessingMethod
    return exif


def _sources() -> dict[str, bytes]:
    picture = Image.new("RGB", (120, 80), (90, 140, 200))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out: dict[str, bytes] = {}
    buf = io.BytesIO()
    picture.save(buf, "JPEG", exif=_exif(), comment=MARK, xmp=XMP, icc_profile=srgb)
    out["meta.jpg"] = buf.getvalue()
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", MARK.decode())
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add_text("Author", MARK.decode(), zip=True)
    buf = io.BytesIO()
    picture.convert("RGBA").save(buf, "PNG", pnginfo=info, exif=_exif(), icc_profile=srgb)
    out["meta.png"] = buf.getvalue()
    buf = io.BytesIO()
    picture.save(buf, "WEBP", exif=_exif(), xmp=XMP, icc_profile=srgb)
    out["meta.webp"] = buf.getvalue()
    return out


def test_sources_really_carry_the_metadata() -> None:
    for name, data in _sources().items():
        assert MARK in data or MARK in _inflate_all(data), name
        with Image.open(io.BytesIO(data)) as im:
            assert im.getexif().get_ifd(0x8825), name


def _inflate_all(data: bytes) -> bytes:
    """PNG zTXt payloads are compressed: inflate every zlib stream found."""
    import zlib

    found = b""
    for at in range(len(data) - 2):
        if data[at] == 0x78 and data[at + 1] in (0x01, 0x5E, 0x9C, 0xDA):
            try:
                found += zlib.decompressobj().decompress(data[at:])
            except zlib.error:
                continue
    return found


@pytest.fixture(scope="module")
def fn():
    with shared_function() as shared:
        yield shared


@pytest.mark.parametrize("source", ["meta.jpg", "meta.png", "meta.webp"])
@pytest.mark.parametrize("accept", ["*/*", "image/webp"])
@pytest.mark.parametrize("query", ["w=60", "w=60&h=60&c=4", "w=500&pcl=00000080"])
def test_outputs_carry_no_exif_gps_xmp_or_comments(fn, source: str, accept: str, query: str) -> None:
    fn.put(source, _sources()[source])
    result = fn.get(f"/th?id={source}&{query}", {"accept": accept})
    assert result["statusCode"] == 200, result["body"][:200]
    data = base64.b64decode(result["body"])
    assert MARK not in data and MARK not in _inflate_all(data)
    for marker in (b"Exif\x00\x00", b"http://ns.adobe.com/xap/1.0/", b"XML:com.adobe.xmp", b"eXIf", b"tEXt", b"zTXt"):
        assert marker not in data, marker
    im = body_image(result)
    assert not im.getexif()
    assert not im.getexif().get_ifd(0x8825)
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "Comment", "Author"):
        assert key not in im.info, key


def test_encode_drops_metadata_even_when_the_image_still_has_it() -> None:
    """The last line of defence is the encoder: an image whose ``info`` still
    holds EXIF and XMP is written without them."""
    im = Image.new("RGB", (20, 20), "white")
    im.info.update(exif=_exif().tobytes(), xmp=XMP, comment=MARK)
    for fmt in ("JPEG", "PNG", "WEBP"):
        data = render.encode(im, fmt, 80, None, 1_000_000)
        assert MARK not in data and b"Exif\x00\x00" not in data, fmt


# ----------------------------------------------------------------------- logs

SECRET = "log-test-signing-secret-5b1e"
AZURE_KEY = "log-test-azure-key-93c0"


def test_logs_hold_no_secret_signature_or_image_bytes(make_fn, monkeypatch, capsys, caplog, no_model_preload) -> None:
    photo = _sources()["meta.jpg"]  # built before capturing: Pillow logs what it writes
    caplog.set_level(logging.DEBUG)
    capsys.readouterr()
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    # An operator switching event logging on must not put signatures in the logs either.
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    fn = make_fn(SIGNING_SECRET=SECRET, AZURE_API_KEY=AZURE_KEY)
    text_source = b"not an image but private words: " + MARK
    fn.put("notes.jpg", text_source)
    fn.put("meta.jpg", photo)

    signed = sign_query(SECRET, "id=meta.jpg&w=60")
    sig = signed.rsplit("sig=", 1)[1]
    forged = "id=meta.jpg&w=61&sig=" + sig
    answers = [
        fn.get(f"/th?{signed}"),  # 200
        fn.get(f"/th?{forged}"),  # 403
        fn.get("/th?" + sign_query(SECRET, "id=notes.jpg&w=60")),  # 415
        fn.get("/th?" + sign_query(SECRET, "id=meta.jpg&w=60", expires_at=1)),  # expired
    ]
    assert [a["statusCode"] for a in answers] == [200, 403, 415, 403]
    from smartthumb.local_server import http_api_event

    analyze = "/computervision/imageanalysis:analyze?api-version=2023-10-01&features=smartCrops"
    for key in ("wrong-key", AZURE_KEY):
        fn.call(
            http_api_event(
                "POST", analyze, {"content-type": "image/jpeg", "ocp-apim-subscription-key": key}, text_source
            )
        )

    # The upload path too: AnalyzeFunction reads the same photo's EXIF.
    monkeypatch.setenv("ANALYSIS_BUCKET", BUCKET)
    monkeypatch.setenv("ANALYSIS_PREFIX", "sidecars/")
    from tests.conftest import load_function

    logging.getLogger("PIL").setLevel(logging.NOTSET)  # what counts is what the analyze handler sets
    analyze_fn = load_function("analyze")
    with_ingest_analyzer(analyze_fn, FakeAnalyzer())
    event = json.loads((EVENTS / "analyze_s3_put.json").read_text())
    etag = fn.s3.head_object(Bucket=BUCKET, Key=PREFIX + "meta.jpg")["ETag"].strip('"')
    event["Records"][0]["s3"]["bucket"]["name"] = BUCKET
    event["Records"][0]["s3"]["object"] = {
        "key": PREFIX + "meta.jpg",
        "eTag": etag,
        "size": len(photo),
        "sequencer": "01",
    }
    assert analyze_fn.handler(event, fn.context)["outcomes"] == ["analysed"]

    captured = capsys.readouterr()
    logs = captured.out + captured.err + "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert logs.strip(), "nothing was logged: the test would prove nothing"
    assert SECRET not in logs
    assert AZURE_KEY not in logs
    assert sig not in logs
    assert MARK.decode() not in logs
    for blob in (photo, text_source, base64.b64decode(answers[0]["body"])):
        assert base64.b64encode(blob)[:40].decode() not in logs
    assert base64.b64encode(photo[:600])[8:60].decode() not in logs
