"""Analysis sidecars: the document, the write ordering, the stores, the cache.

* :mod:`.document` — the versioned JSON schema (:class:`Sidecar`) and
  :func:`build_sidecar` (one analysis pass → one document);
* :mod:`.ordering` — sequencer/ETag decisions and the guarded writes;
* :mod:`.stores` — S3, a local folder, or none;
* :mod:`.cache` — :class:`AnalysisCache`, the one lookup/compute/write-back
  object every reader of analysis results uses.

Importing this package costs no numpy, onnxruntime or boto3.
"""

from smartthumb.sidecars.cache import AnalysisCache
from smartthumb.sidecars.document import (
    ANALYZER_VERSION,
    SCHEMA_VERSION,
    AnalyzeFn,
    Sidecar,
    build_sidecar,
    sidecar_key,
)
from smartthumb.sidecars.ordering import (
    ConditionFailed,
    Decision,
    SidecarStore,
    WriteResult,
    compare_sequencers,
    decide_delete,
    decide_write,
    delete_guarded,
    record_sequencer,
    undo_if_orphaned,
    write_guarded,
)
from smartthumb.sidecars.stores import LocalSidecarStore, NullSidecarStore, S3SidecarStore, store_from_settings

__all__ = [
    "ANALYZER_VERSION",
    "SCHEMA_VERSION",
    "AnalysisCache",
    "AnalyzeFn",
    "ConditionFailed",
    "Decision",
    "LocalSidecarStore",
    "NullSidecarStore",
    "S3SidecarStore",
    "Sidecar",
    "SidecarStore",
    "WriteResult",
    "build_sidecar",
    "compare_sequencers",
    "decide_delete",
    "decide_write",
    "delete_guarded",
    "record_sequencer",
    "sidecar_key",
    "store_from_settings",
    "undo_if_orphaned",
    "write_guarded",
]
