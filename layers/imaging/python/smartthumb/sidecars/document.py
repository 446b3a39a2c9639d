"""The sidecar document: one versioned JSON record per source image version.

A sidecar records what the analysis found for one *version* of one source
object (its ETag), so ``c=7`` thumbnails and ``GET /analysis`` can answer
without running a model. It is written by the AnalyzeFunction on upload, by
S3 Batch Operations backfills, and on demand when a ``c=7`` request finds
none (or a stale one).

Shape (``schemaVersion`` 1; every key is always present)::

    {
      "schemaVersion": 1,
      "status": "ok" | "error",
      "source": {"bucket", "key", "etag", "size", "versionId"},
      "sequencer": "0055AED6DCD90281E5" | null,   # S3 event order, per key
      "trigger": "ObjectCreated:Put" | "BatchOperations" | "OnDemand" | ...,
      "analyzerVersion": "smartthumb 0.1.0",
      "modelVersion": "smartthumb-yunet2023mar-u2netp-1" | null,
      "ratios": [0.75, 1.0, 1.5, 1.78],
      "azure": {Azure smart-crops result for "ratios"} | null,
      "azureAutomatic": {Azure result with the one automatic crop} | null,
      "roi": {"x", "y", "w", "h"} | null,
      "faces": [{"box": [x, y, w, h], "score", "landmarks"}],
      "analysis": {Analysis.to_dict()} | null,
      "manualRegion": {"x", "y", "w", "h", "setAt", "detected": {"azure", "azureAutomatic"}} | null,
      "error": {"status", "code", "message"} | null,
      "createdAt": "2026-11-22T14:00:00Z"
    }

Built from one :class:`~smartthumb.analysis.analyzer.Analysis` by
:func:`build_sidecar` (one analysis pass gives the configured ratios and the
automatic crop); the Azure answers inside are :mod:`smartthumb.azure.contract`'s.

``manualRegion`` is a person's region of interest (:mod:`smartthumb.focus`):
while it is set, ``azure``/``azureAutomatic`` hold boxes that keep it and
``manualRegion.detected`` the analysis's own; re-analysis of the same
version carries it over (:func:`~smartthumb.sidecars.ordering.write_guarded`).

A sidecar written before ``analysis.importance`` existed
(:attr:`Sidecar.lacks_profile`) is still read: ``c=7`` serves its stored
Azure boxes for the ratios it holds, and a backfill of the same version
re-analyses it rather than calling it up to date.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from smartthumb import __version__
from smartthumb.azure.contract import smart_crops_answer
from smartthumb.config import Settings
from smartthumb.errors import ThumbError
from smartthumb.geometry import Box

SCHEMA_VERSION = 1
ANALYZER_VERSION = f"smartthumb {__version__}"
#: S3's key limit in bytes; longer sidecar keys fall back to a hashed name.
MAX_KEY_BYTES = 1024

#: ``analyze_image``'s signature (see :mod:`smartthumb.analysis.analyzer`): one
#: pass; the result's ``crops_for(ratios)`` / ``automatic()`` derive other crops.
AnalyzeFn = Callable[[bytes, Sequence[float] | None, Settings], Any]


def sidecar_key(prefix: str, source_key: str) -> str:
    """``prefix + source_key + ".json"``; a hashed name when that passes S3's limit."""
    key = f"{prefix}{source_key}.json"
    if len(key.encode("utf-8", "surrogatepass")) <= MAX_KEY_BYTES:
        return key
    digest = hashlib.sha256(source_key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}_long-keys/{digest}.json"


def _box_json(box: Box | None) -> dict[str, int] | None:
    return None if box is None else {"x": box.x, "y": box.y, "w": box.w, "h": box.h}


def box_from_json(raw: Any) -> Box | None:
    """A stored ``{"x", "y", "w", "h"}`` box, or ``None`` for anything that is not a non-empty one."""
    if not isinstance(raw, Mapping):
        return None
    try:
        box = Box(int(raw["x"]), int(raw["y"]), int(raw["w"]), int(raw["h"]))
    except (KeyError, TypeError, ValueError):
        return None
    return box if box.w > 0 and box.h > 0 else None


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Sidecar:
    """One sidecar document (see the module docstring for the JSON shape)."""

    bucket: str
    key: str
    etag: str
    size: int | None
    status: str = "ok"
    version_id: str | None = None
    sequencer: str | None = None
    trigger: str = "OnDemand"
    analyzer_version: str = ANALYZER_VERSION
    model_version: str | None = None
    ratios: tuple[float, ...] = ()
    azure: dict[str, Any] | None = None
    azure_automatic: dict[str, Any] | None = None
    roi: Box | None = None
    width: int | None = None
    height: int | None = None
    faces: tuple[dict[str, Any], ...] = ()
    analysis: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    created_at: str = field(default_factory=utc_now)
    manual_region: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def lacks_profile(self) -> bool:
        """An ``ok`` sidecar written before the analysis kept its importance profile
        (an ``analysis`` without the ``importance`` key; today's always has it, ``null``
        when saliency did not run): ``c=7`` serves its stored boxes (the placer in
        :mod:`smartthumb.sidecars.cache`) and a backfill of the same version
        re-analyses it (:func:`~smartthumb.sidecars.ordering.decide_write`)."""
        return self.ok and isinstance(self.analysis, dict) and "importance" not in self.analysis

    @classmethod
    def from_analysis(
        cls,
        *,
        bucket: str,
        key: str,
        etag: str,
        size: int | None,
        analysis: Any,
        automatic: Any | None,
        ratios: Sequence[float],
        **extra: Any,
    ) -> Sidecar:
        """From :class:`~smartthumb.analysis.analyzer.Analysis` values (duck-typed)."""
        as_dict = analysis.to_dict()
        auto = smart_crops_answer(automatic) if automatic is not None else None
        return cls(
            bucket=bucket,
            key=key,
            etag=etag,
            size=size,
            status="ok",
            model_version=getattr(analysis, "model_version", None),
            ratios=tuple(float(r) for r in ratios),
            azure=smart_crops_answer(analysis),
            azure_automatic=auto,
            roi=analysis.roi,
            width=analysis.width,
            height=analysis.height,
            faces=tuple(as_dict.get("faces") or ()),
            analysis=as_dict,
            **extra,
        )

    @classmethod
    def from_error(
        cls, *, bucket: str, key: str, etag: str, size: int | None, error: ThumbError, **extra: Any
    ) -> Sidecar:
        """A permanent failure (not an image, too large): recorded, not retried."""
        body = {"status": error.status, "code": error.code, "message": error.message}
        return cls(bucket=bucket, key=key, etag=etag, size=size, status="error", error=body, **extra)

    def to_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": SCHEMA_VERSION,
            "status": self.status,
            "source": {
                "bucket": self.bucket,
                "key": self.key,
                "etag": self.etag,
                "size": self.size,
                "versionId": self.version_id,
            },
            "sequencer": self.sequencer,
            "trigger": self.trigger,
            "analyzerVersion": self.analyzer_version,
            "modelVersion": self.model_version,
            "ratios": list(self.ratios),
            "azure": self.azure,
            "azureAutomatic": self.azure_automatic,
            "roi": _box_json(self.roi),
            "faces": list(self.faces),
            "analysis": self.analysis,
            "manualRegion": self.manual_region,
            "error": self.error,
            "createdAt": self.created_at,
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Sidecar:
        """Parse a stored document; raises ``ValueError`` if it is not one."""
        if not isinstance(doc, dict) or doc.get("schemaVersion") != SCHEMA_VERSION:
            raise ValueError("not a smartthumb sidecar (schemaVersion)")
        src = doc.get("source")
        if not isinstance(src, dict) or not isinstance(src.get("key"), str):
            raise ValueError("sidecar without a source")
        azure = doc.get("azure") if isinstance(doc.get("azure"), dict) else None
        meta = (azure or {}).get("metadata") or {}
        return cls(
            bucket=str(src.get("bucket") or ""),
            key=src["key"],
            etag=str(src.get("etag") or ""),
            size=src.get("size") if isinstance(src.get("size"), int) else None,
            status=str(doc.get("status") or "error"),
            version_id=src.get("versionId"),
            sequencer=doc.get("sequencer") or None,
            trigger=str(doc.get("trigger") or ""),
            analyzer_version=str(doc.get("analyzerVersion") or ""),
            model_version=doc.get("modelVersion"),
            ratios=tuple(float(r) for r in doc.get("ratios") or ()),
            azure=azure,
            azure_automatic=doc.get("azureAutomatic") if isinstance(doc.get("azureAutomatic"), dict) else None,
            roi=box_from_json(doc.get("roi")),
            width=meta.get("width") if isinstance(meta.get("width"), int) else None,
            height=meta.get("height") if isinstance(meta.get("height"), int) else None,
            faces=tuple(doc.get("faces") or ()),
            analysis=doc.get("analysis") if isinstance(doc.get("analysis"), dict) else None,
            error=doc.get("error") if isinstance(doc.get("error"), dict) else None,
            created_at=str(doc.get("createdAt") or ""),
            manual_region=doc.get("manualRegion") if isinstance(doc.get("manualRegion"), dict) else None,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Sidecar:
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError("sidecar is not JSON") from exc
        return cls.from_json(doc)


def build_sidecar(
    analyze: AnalyzeFn,
    settings: Settings,
    *,
    bucket: str,
    key: str,
    etag: str,
    data: bytes,
    trigger: str,
    sequencer: str | None = None,
    version_id: str | None = None,
) -> Sidecar:
    """Analyse ``data`` once: the configured ratios and the automatic crop.

    A permanent problem with the bytes (4xx :class:`ThumbError`: not an image,
    too large) gives an error sidecar; anything else propagates.
    """
    ratios = list(settings.smartcrop_aspect_ratios)
    extra = {"sequencer": sequencer, "version_id": version_id, "trigger": trigger}
    try:
        analysis = analyze(data, ratios, settings)
    except ThumbError as exc:
        if not exc.permanent:
            raise
        return Sidecar.from_error(bucket=bucket, key=key, etag=etag, size=len(data), error=exc, **extra)
    return Sidecar.from_analysis(
        bucket=bucket,
        key=key,
        etag=etag,
        size=len(data),
        analysis=analysis,
        automatic=analysis.automatic(),
        ratios=ratios,
        **extra,
    )
