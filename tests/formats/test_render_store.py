"""The render store: keys that carry the source version, one interface for S3 (moto) and a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smartthumb.render_store import (
    LocalFolderRenderStore,
    RenderStore,
    S3RenderStore,
    render_key,
    render_store_from_settings,
    sniff_content_type,
    source_prefix,
)

ETAG_A = "0123456789abcdef0123456789abcdef"  # render digests
ETAG_B = "fedcba9876543210fedcba9876543210"
JPEG = b"\xff\xd8\xff\xe0 a jpeg"
PNG = b"\x89PNG\r\n\x1a\n a png"
AVIF = b"\x00\x00\x00\x1cftypavif an avif"
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 a webp"


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RenderStore:
    if request.param == "folder":
        return LocalFolderRenderStore(tmp_path / "renders-root")
    s3 = request.getfixturevalue("s3")
    s3.create_bucket(Bucket="renders")
    return S3RenderStore("renders", client=s3)


def test_key_is_the_source_prefix_and_the_digest() -> None:
    assert render_key("renders/", "a.jpg", ETAG_A) == f"renders/a.jpg/{ETAG_A}"
    assert render_key("renders/", "a.jpg", ETAG_A) != render_key("renders/", "a.jpg", ETAG_B)
    with pytest.raises(ValueError, match="hex digest"):
        render_key("r/", "a.jpg", "../../x")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(JPEG, "image/jpeg"), (PNG, "image/png"), (AVIF, "image/avif"), (WEBP, "image/webp"), (b"GIF89a...", "image/gif")],
)
def test_content_type_from_the_first_bytes(body: bytes, content_type: str) -> None:
    assert sniff_content_type(body) == content_type
    assert sniff_content_type(b"plain text") == "application/octet-stream"


def test_an_id_prefix_never_covers_another_id() -> None:
    assert source_prefix("renders/", "a.jpg") == "renders/a.jpg/"
    assert source_prefix("renders/", "a.jpg/b.png") == "renders/a.jpg%2Fb.png/"
    assert not source_prefix("renders/", "a.jpg/b.png").startswith(source_prefix("renders/", "a.jpg"))


def test_a_long_id_is_one_short_folder_named_by_its_hash() -> None:
    """Percent-encoded, a 260-byte id with slashes is one 300-byte folder name: over a file system's
    255-byte limit, and a 1,024-byte id can triple past S3's key limit. Such ids are named by hash."""
    long_id = "/".join(["d" * 40] * 6) + "/noise.png"
    prefix = source_prefix("renders/", long_id)
    folder = prefix.removeprefix("renders/").removesuffix("/")
    assert folder.startswith("#") and len(folder) == 65 and "/" not in folder
    assert prefix == source_prefix("renders/", long_id)  # stable
    assert prefix != source_prefix("renders/", long_id + "x")
    assert len(render_key("renders/", "é" * 1024, ETAG_A)) < 200
    # A short id keeps its readable name; no encoded id starts with the hash's "#".
    assert source_prefix("renders/", "#" + "a" * 64) == "renders/%23" + "a" * 64 + "/"


def test_renders_of_a_long_id_are_stored_and_deleted_by_source(store: RenderStore) -> None:
    long_id = "/".join(["d" * 40] * 6) + "/noise.png"
    key = render_key(store.prefix, long_id, ETAG_A)
    assert store.put(key, PNG, "image/png", "public, max-age=60")
    got = store.get(key)
    assert got is not None and got.body == PNG
    assert store.delete_renders(long_id) == 1 and store.get(key) is None


def test_put_get_and_delete_by_source(store: RenderStore) -> None:
    a1 = render_key(store.prefix, "a.jpg", ETAG_A)
    a2 = render_key(store.prefix, "a.jpg", ETAG_B)
    nested = render_key(store.prefix, "a.jpg/b.png", ETAG_A)
    assert store.get(a1) is None
    renders = ((a1, AVIF, "image/avif"), (a2, JPEG, "image/jpeg"), (nested, PNG, "image/png"))
    for key, body, ct in renders:
        assert store.put(key, body, ct, "public, max-age=60")
    got = store.get(a1)
    assert got is not None and got.body == AVIF and got.content_type == "image/avif" and dict(got.meta) == {}
    meta = {"animation": "kept", "crop": "1,2,3,4"}
    assert store.put(a2, JPEG, "image/jpeg", "public, max-age=60", meta)
    again = store.get(a2)
    assert again is not None and dict(again.meta) == meta and again.body == JPEG

    assert store.delete_renders("a.jpg") == 2
    assert store.get(a1) is None and store.get(a2) is None
    assert store.get(nested) is not None  # another source's renders stay
    assert store.delete_renders("never-rendered.jpg") == 0


def test_s3_store_writes_content_type_and_cache_control(s3: Any) -> None:
    s3.create_bucket(Bucket="renders")
    store = S3RenderStore("renders", prefix="th/", client=s3)
    key = render_key("th/", "x y.jpg", ETAG_A)
    assert store.put(key, WEBP, "image/webp", "public, max-age=86400")
    head = s3.head_object(Bucket="renders", Key=key)
    assert head["ContentType"] == "image/webp"
    assert head["CacheControl"] == "public, max-age=86400"


def test_s3_store_failures_are_misses_not_errors(s3: Any) -> None:
    store = S3RenderStore("no-such-bucket", client=s3)
    key = render_key(store.prefix, "a.jpg", ETAG_A)
    assert store.get(key) is None
    assert store.put(key, b"x", "image/jpeg", "no-store") is False


def test_s3_delete_pages_past_1000_keys(s3: Any) -> None:
    s3.create_bucket(Bucket="renders")
    store = S3RenderStore("renders", client=s3)
    for i in range(1005):
        s3.put_object(Bucket="renders", Key=f"{source_prefix(store.prefix, 'big.gif')}{i:032x}", Body=b"")
    assert store.delete_renders("big.gif") == 1005
    assert s3.list_objects_v2(Bucket="renders", Prefix="renders/").get("KeyCount") == 0


def test_folder_store_refuses_keys_outside_it(tmp_path: Path) -> None:
    store = LocalFolderRenderStore(tmp_path / "root")
    (tmp_path / "secret.jpg").write_bytes(b"x")
    assert store.get("../secret.jpg") is None
    with pytest.raises(ValueError, match="outside"):
        store.put("../escape.jpg", b"x", "image/jpeg", "")
    assert not (tmp_path / "escape.jpg").exists()


def test_location_quotes_the_key_once_more() -> None:
    store = LocalFolderRenderStore("/tmp/unused", base_url="/")
    key = render_key(store.prefix, "a.jpg/b c.png", ETAG_A)
    # The %2F of the id must survive the client's and the store's decoding of the URL.
    assert store.location(key) == "/renders/a.jpg%252Fb%2520c.png/" + ETAG_A


class _Settings:
    render_bucket = ""
    render_prefix = "renders/"
    local_render_store = ""


def test_store_from_settings(tmp_path: Path, s3: Any) -> None:
    settings = _Settings()
    assert render_store_from_settings(settings) is None
    settings.local_render_store = str(tmp_path)
    assert isinstance(render_store_from_settings(settings), LocalFolderRenderStore)
    settings.render_bucket = "renders"
    assert isinstance(render_store_from_settings(settings, client=s3), S3RenderStore)
