"""Client hints through /th (ENABLE_CLIENT_HINTS): the hinted size, Accept-CH, Vary, and off by default."""

from __future__ import annotations

import io

from PIL import Image

from tests.formats.conftest import Th, image_of


def jpeg(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (40, 90, 160)).save(buf, "JPEG")
    return buf.getvalue()


def test_hints_size_the_thumbnail_and_are_announced(make_th) -> None:
    th: Th = make_th(ENABLE_CLIENT_HINTS="true")
    th.put("a.jpg", jpeg((2000, 1000)))

    hinted = th.get("/th?id=a.jpg&w=200", **{"sec-ch-dpr": "2.625", "sec-ch-width": "900"})
    assert image_of(hinted).size == (600, 300)  # DPR rounded up to 3; the width hint unused (the URL has w)
    assert hinted["headers"]["Accept-CH"] == "Sec-CH-DPR, Sec-CH-Width"
    assert hinted["headers"]["Vary"] == "Accept, Sec-CH-DPR"

    bare = th.get("/th?id=a.jpg", **{"sec-ch-dpr": "2", "sec-ch-width": "700"})
    assert image_of(bare).size == (768, 384)  # width rounded up to 768 device pixels, no DPR on top
    assert bare["headers"]["Vary"] == "Accept, Sec-CH-Width"

    unhinted = th.get("/th?id=a.jpg&w=200")
    assert image_of(unhinted).size == (200, 100)
    assert unhinted["headers"]["Vary"] == "Accept, Sec-CH-DPR"  # the answer would differ with a hint
    assert unhinted["headers"]["ETag"] != hinted["headers"]["ETag"]

    explicit = th.get("/th?id=a.jpg&w=200&dpr=1.5", **{"sec-ch-dpr": "3"})
    assert image_of(explicit).size == (300, 150)  # the URL's dpr wins
    assert explicit["headers"]["Vary"] == "Accept"
    assert explicit["headers"]["Accept-CH"] == "Sec-CH-DPR, Sec-CH-Width"


def test_a_hint_beyond_the_limits_is_not_an_error(make_th) -> None:
    th: Th = make_th(ENABLE_CLIENT_HINTS="true", MAX_DIMENSION="1000")
    th.put("a.jpg", jpeg((2000, 1000)))
    assert image_of(th.get("/th?id=a.jpg&w=400", **{"sec-ch-dpr": "3"})).size == (800, 400)  # 2 fits, 3 does not
    assert image_of(th.get("/th?id=a.jpg", **{"sec-ch-width": "2000"})).size == (1000, 500)
    assert image_of(th.get("/th?id=a.jpg&w=200", **{"sec-ch-dpr": "abc"})).size == (200, 100)


def test_hints_are_ignored_and_not_announced_when_off(make_th) -> None:
    th: Th = make_th()
    th.put("a.jpg", jpeg((2000, 1000)))
    result = th.get("/th?id=a.jpg&w=200", **{"sec-ch-dpr": "3"})
    assert image_of(result).size == (200, 100)
    assert "Accept-CH" not in result["headers"]
    assert result["headers"]["Vary"] == "Accept"
