"""What the sidecar keeps is enough to place any ratio later exactly as the analysis did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import smartthumb
from smartthumb.analysis.analyzer import Analysis, analyze_image
from smartthumb.config import Settings

SAMPLES = Path(smartthumb.__file__).parent / "samples"
RATIOS = [0.5, 0.6, 0.75, 0.9, 1.0, 1.2, 1.33, 1.5, 1.78, 2.0, 2.5]


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("name", ["rocket.jpg", "coffee.jpg", "astronaut.jpg", "chelsea.jpg"])
def test_a_stored_analysis_places_every_ratio_as_the_fresh_one(name: str) -> None:
    fresh = analyze_image((SAMPLES / name).read_bytes(), RATIOS, Settings())
    stored = Analysis.from_dict(json.loads(json.dumps(fresh.to_dict())))
    assert stored.saliency is None  # the map itself is not kept
    assert stored.crops_for(RATIOS).crops == fresh.crops
    assert stored.automatic().crops == fresh.automatic().crops
    if not fresh.faces:
        assert fresh.importance is not None
        assert len(json.dumps(fresh.to_dict()["importance"])) < 8000
