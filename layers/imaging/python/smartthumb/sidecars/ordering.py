"""Write ordering: who may replace or delete a sidecar, and the guarded writes.

S3 delivers events at least once and in no particular order. Writers
therefore read the current sidecar with a *token* (its S3 ETag), decide with
:func:`decide_write` / :func:`decide_delete`, and write or delete
*conditionally* on that token (S3 ``If-Match`` / ``If-None-Match``), so two
writers never silently overwrite each other. Pure decisions plus two loops
over the small :class:`SidecarStore` interface; no I/O of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from smartthumb.errors import SourceUnavailable
from smartthumb.focus import carry_manual_region
from smartthumb.sidecars.document import Sidecar


def compare_sequencers(a: str, b: str) -> int:
    """-1, 0 or 1 as S3 event sequencer ``a`` is older, equal or newer than ``b``.

    Sequencers are hexadecimal strings of varying length and are comparable
    only for events on the same key. AWS's guide says to pad the shorter one
    with zeros and compare lexicographically; its current text pads on the
    right (an older revision said left), and we follow the current one.
    Case is normalised, as the value is hexadecimal.
    """
    a, b = a.strip().upper(), b.strip().upper()
    width = max(len(a), len(b))
    a, b = a.ljust(width, "0"), b.ljust(width, "0")
    return (a > b) - (a < b)


class ConditionFailed(Exception):
    """The sidecar changed between read and write: re-read and decide again."""


class SidecarStore(Protocol):
    def read(self, source_key: str) -> tuple[Sidecar | None, str | None]:
        """The sidecar (``None`` if absent or unreadable) and a token for conditional writes."""
        ...

    def write(self, source_key: str, sidecar: Sidecar, expect: str | None) -> None:
        """Write if the stored token is still ``expect`` (``None``: must not exist)."""
        ...

    def delete(self, source_key: str, expect: str) -> None: ...

    def list_keys(self) -> list[str]: ...


class Decision(StrEnum):
    WRITE = "write"
    STALE = "stale"  # a newer event already wrote (or deleted) this key
    DUPLICATE = "duplicate"  # this very event was processed before
    UP_TO_DATE = "up-to-date"  # same object version, same analyzer: nothing to do
    YIELD = "yield"  # an un-sequenced writer met a sequenced sidecar of another version
    VERIFY = "verify"  # write only if the object read is still the current one


def decide_write(current: Sidecar | None, etag: str, sequencer: str | None, analyzer_version: str) -> Decision:
    """Whether a writer holding ``etag``/``sequencer`` may replace ``current``.

    Event writers (with a sequencer) order by sequencer. Writers without one
    (backfill, on-demand) read the object *now*, so they may refresh a sidecar
    of the same version with an older analyzer, fill a missing one, or replace
    one that was itself written without a sequencer. An event-written sidecar
    of another version may be older or newer than what they read, so they
    replace it only after checking that the object they analysed is still the
    current one (``VERIFY``). A sidecar written before the importance profile
    existed (:attr:`Sidecar.lacks_profile`) counts as an older analyzer's.
    """
    if current is None:
        return Decision.WRITE
    # A sidecar without the importance profile is upgraded like one of an older analyzer.
    same_version = current.etag == etag and current.analyzer_version == analyzer_version and not current.lacks_profile
    if sequencer is not None:
        if current.sequencer is None:
            return Decision.UP_TO_DATE if same_version else Decision.WRITE
        order = compare_sequencers(sequencer, current.sequencer)
        if order < 0:
            return Decision.STALE
        if order == 0:
            return Decision.DUPLICATE
        return Decision.WRITE
    if same_version:
        return Decision.UP_TO_DATE
    if current.etag == etag or current.sequencer is None:
        return Decision.WRITE
    return Decision.VERIFY


def decide_delete(current: Sidecar | None, sequencer: str | None) -> Decision:
    """Whether an ObjectRemoved event with ``sequencer`` may delete ``current``."""
    if current is None:
        return Decision.DUPLICATE
    if sequencer is not None and current.sequencer is not None:
        order = compare_sequencers(sequencer, current.sequencer)
        if order <= 0:
            return Decision.STALE
    return Decision.WRITE


@dataclass(frozen=True)
class WriteResult:
    decision: Decision
    attempts: int


def write_guarded(
    store: SidecarStore,
    sidecar: Sidecar,
    *,
    current: Sidecar | None,
    token: str | None,
    still_current: Callable[[], bool] | None = None,
    max_attempts: int = 4,
) -> WriteResult:
    """Write ``sidecar`` unless :func:`decide_write` says otherwise.

    ``current``/``token`` come from a read made *before* the object was
    fetched, so any write by someone else since then fails the condition; an
    event writer then re-reads and decides again, a writer without a
    sequencer yields (someone with better knowledge wrote). ``still_current()``
    answers a ``VERIFY`` decision: is the analysed object still the stored one?
    """
    for attempt in range(1, max_attempts + 1):
        decision = decide_write(current, sidecar.etag, sidecar.sequencer, sidecar.analyzer_version)
        if decision is Decision.VERIFY:
            decision = Decision.WRITE if still_current is not None and still_current() else Decision.YIELD
        if decision is not Decision.WRITE:
            return WriteResult(decision, attempt)
        # A person's region survives re-analysis of the same version (smartthumb.focus).
        new = carry_manual_region(sidecar, current)
        if sidecar.sequencer is None and current is not None and current.sequencer is not None:
            # Keep the event order known for this key: a later, older event must stay stale.
            new = replace(new, sequencer=current.sequencer)
        try:
            store.write(sidecar.key, new, token)
            return WriteResult(Decision.WRITE, attempt)
        except ConditionFailed:
            if sidecar.sequencer is None:
                return WriteResult(Decision.YIELD, attempt)
            current, token = store.read(sidecar.key)
    raise SourceUnavailable("the sidecar kept changing while being written; try again")


def delete_guarded(store: SidecarStore, source_key: str, sequencer: str | None, max_attempts: int = 4) -> Decision:
    """Delete the sidecar of ``source_key`` unless a newer event wrote it."""
    for _ in range(max_attempts):
        current, token = store.read(source_key)
        if current is None and token is None:
            return Decision.DUPLICATE
        decision = decide_delete(current, sequencer) if current is not None else Decision.WRITE
        if decision is not Decision.WRITE:
            return decision
        try:
            store.delete(source_key, token or "")
            return Decision.WRITE
        except ConditionFailed:
            continue
    raise SourceUnavailable("the sidecar kept changing while being deleted; try again")


def undo_if_orphaned(store: SidecarStore, sidecar: Sidecar, still_current: Callable[[], bool]) -> bool:
    """After writing ``sidecar``: if its source went away (or changed) meanwhile, delete what was written.

    A delete processed while the create for the same key was being analysed
    finds no sidecar and deletes nothing; the create then writes one for a
    deleted image. Re-checking the source after the write closes that gap:
    the delete wins. A sidecar someone else wrote since (another ETag) is left.
    """
    if still_current():
        return False
    current, token = store.read(sidecar.key)
    if current is None or current.etag != sidecar.etag:
        return False
    with contextlib.suppress(ConditionFailed):
        store.delete(sidecar.key, token or "")
    return True


def record_sequencer(store: SidecarStore, current: Sidecar, token: str | None, sequencer: str) -> None:
    """Note an event's order on a sidecar written without one (backfill, on demand),
    without re-analysing; a concurrent write wins (the condition fails quietly)."""
    with contextlib.suppress(ConditionFailed):
        store.write(current.key, replace(current, sequencer=sequencer), token)
