"""The call log: one row per attempt, kept in memory at once and in SQLite soon after.

The log never costs an answer. ``append`` only puts the row in memory and in a queue; a
writer thread (one per log, started when there is something to write, ended when idle)
writes what is queued in one transaction. So a file locked by another program, a full
disk, a read-only file or a removed folder never raises into a call nor stalls the event
loop: the rows stay queued, the user is told once (a warning naming the file and the
fix), and they are written when the file works again. ``close()`` and the end of the
process flush what is queued, for a bounded time.

SQLite in WAL mode lets two kernels append to the same file at once; ``busy_timeout``
makes a writer wait for the other instead of failing. A crash loses at most the rows of
the last few milliseconds. pandas is imported only when a DataFrame is asked for. The
file itself (its table, reads, writes, advice when it fails) is :mod:`.logfile`.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import sqlite3
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import logfile
from .errors import ConfigError
from .logfile import COLUMNS as COLUMNS  # the table's columns, importable here as before
from .types import Attempt

if TYPE_CHECKING:
    import pandas as pd

_logger = logging.getLogger(__name__)

#: how long one write waits for another program's lock before it counts as failed
BUSY_SECONDS = 5.0
#: most rows written in one transaction
_BATCH = 500
#: longest pause between two tries while the file fails
_MAX_RETRY_DELAY = 2.0
#: a writer thread with nothing to do ends after this long (a new one starts when needed)
_IDLE_SECONDS = 2.0
#: at process exit, how long all logs together may take to write what is queued
EXIT_FLUSH_SECONDS = 3.0

_live: weakref.WeakSet[CallLog] = weakref.WeakSet()
_atexit_registered = False


def default_path() -> Path:
    """``$VESSEL_NB_LOG``, else ``$XDG_DATA_HOME/vessel_nb/calls.sqlite3``."""
    if env := os.environ.get("VESSEL_NB_LOG"):
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "vessel_nb" / "calls.sqlite3"


class CallLog:
    """Attempts of this session in memory (``.df``), and every session on disk (``.load_all()``).

    ``path=None`` uses :func:`default_path`; ``path=False`` keeps the log in memory only.
    ``keep_text=False`` stores neither prompts nor replies.
    """

    def __init__(self, path: str | os.PathLike | bool | None = None, *, keep_text: bool = True) -> None:
        self.session_id = uuid.uuid4().hex[:12]
        self.keep_text = keep_text
        self._rows: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._pending: list[dict[str, Any]] = []  # rows in memory, not yet on disk
        self._writer: threading.Thread | None = None
        self._stopping = False
        self._conn: sqlite3.Connection | None = None  # used by the writer thread only
        self._inode: tuple[int, int] | None = None
        self._problem: str | None = None
        self._told = False
        if path is False:
            self.path: Path | None = None
            return
        self.path = default_path() if path in (None, True) else Path(path).expanduser()
        try:
            self._connect()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot open the call log at {self.path}: {exc}; pass log_path= a writable file, "
                "or log_path=False to keep the log in memory only"
            ) from None
        _watch_at_exit(self)

    # --- the caller's side: never blocks on the file --------------------------------
    def append(self, attempt: Attempt) -> None:
        """Record one attempt: in memory now, on disk as soon as the file allows."""
        # Every field is a str, number, bool or None: a shallow copy is the row (asdict's deep
        # copy cost more than the rest of the attempt's bookkeeping together).
        row = vars(attempt).copy()
        if len(row) != len(_ATTEMPT_FIELDS):  # an attribute set on the instance is no column
            row = {name: row[name] for name in _ATTEMPT_FIELDS}
        row["session_id"] = self.session_id
        if not self.keep_text:
            row["prompt"] = row["response"] = None
        for k, v in row.items():  # lone surrogates cannot be stored: keep memory and disk alike
            if isinstance(v, str) and not v.isascii():  # isascii is O(1): most fields are ASCII
                row[k] = _encodable(v)
        with self._cond:
            self._rows.append(row)
            if self.path is not None:
                self._pending.append(row)
                self._cond.notify_all()
                if self._writer is None:
                    self._stopping = False
                    self._writer = threading.Thread(target=self._run, name="vessel_nb call log", daemon=True)
                    self._writer.start()

    @property
    def rows(self) -> list[dict[str, Any]]:
        """This session's rows as dicts (a copy)."""
        with self._cond:
            return [dict(r) for r in self._rows]

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def unwritten(self) -> int:
        """Rows of this session not on disk yet (0 for a memory-only log)."""
        return len(self._pending)

    @property
    def problem(self) -> str | None:
        """Why the file cannot be written right now (None when it works)."""
        return self._problem

    @property
    def df(self) -> pd.DataFrame:
        """This session's attempts as a DataFrame, oldest first."""
        return logfile.frame(self.rows)

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until every row is on disk; False if the file still fails after ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending, timeout)

    def load_all(self) -> pd.DataFrame:
        """Every session's attempts from the SQLite file (and this session's rows not written yet)."""
        if self.path is None:
            return self.df
        self.flush(timeout=2.0)
        try:
            rows = logfile.read(self.path, BUSY_SECONDS, "ORDER BY started_at, call_id, attempt")
        except sqlite3.Error as exc:
            _logger.warning("vessel_nb: cannot read the call log at %s (%s); showing this session only", self.path, exc)
            return self.df
        with self._cond:
            rows += [dict(r) for r in self._pending]
        return logfile.frame(rows)

    def run_rows(self, run_id: str) -> list[dict[str, Any]]:
        """Every row of one prompt-set run (``orch.map``), from the file — all sessions — and
        from this session's rows not written yet. A memory-only log has this session's only."""
        with self._cond:
            rows = [dict(r) for r in (self._rows if self.path is None else self._pending) if r["run_id"] == run_id]
        if self.path is None:
            return rows
        try:
            found = logfile.read(self.path, BUSY_SECONDS, "WHERE run_id = ?", [run_id])
        except sqlite3.Error as exc:
            _logger.warning(
                "vessel_nb: cannot read the call log at %s (%s); resuming from this session only", self.path, exc
            )
            with self._cond:
                return [dict(r) for r in self._rows if r["run_id"] == run_id]
        # a row may have been written between the two reads: count it once
        seen = {(r["call_id"], r["attempt"]) for r in rows}
        return [r for r in found if (r["call_id"], r["attempt"]) not in seen] + rows

    def newest(self, run_id: str, run_item: str, since: int = 0) -> dict[str, Any] | None:
        """This session's newest row of one pair of a run (a copy), among the rows logged after
        the first ``since``; None when there is none."""
        with self._cond:
            for r in reversed(self._rows[since:]):
                if r["run_item"] == run_item and r["run_id"] == run_id:
                    return dict(r)
        return None

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (waiting at most ``timeout``) and release the file.

        The log stays usable: a later append opens the file again.
        """
        with self._cond:
            writer = self._writer
            self._stopping = True
            self._cond.notify_all()
            done = self._cond.wait_for(lambda: not self._pending, timeout)
            left = len(self._pending)
        if writer is not None:
            writer.join(timeout=0.5 if done else 0.1)
        with self._cond:
            if self._writer is None:  # nothing will write now: release the file
                self._disconnect()
        if not done:
            _logger.warning(
                "vessel_nb: %d call-log rows could not be written to %s (%s); they are still in log.df",
                left,
                self.path,
                self._problem or "the file did not answer in time",
            )

    def __repr__(self) -> str:
        where = str(self.path) if self.path else "memory only"
        trouble = f", {self.unwritten} not written yet: {self._problem}" if self._problem else ""
        return f"CallLog({len(self)} attempts this session, {where}{trouble})"

    # --- the writer thread ---------------------------------------------------------------
    def _run(self) -> None:
        delay = 0.05
        while True:
            with self._cond:
                if not self._pending and not self._stopping:
                    self._cond.wait(_IDLE_SECONDS)
                if not self._pending:
                    return self._end()
                batch = self._pending[:_BATCH]
            try:
                self._write(batch)
            except Exception as exc:  # noqa: BLE001 - any failure keeps the rows and retries
                self._failed(exc)
                with self._cond:
                    self._cond.wait(delay)
                delay = min(delay * 2, _MAX_RETRY_DELAY)
                continue
            delay = 0.05
            with self._cond:
                del self._pending[: len(batch)]
                self._cond.notify_all()
            if self._problem is not None:
                _logger.info("vessel_nb: the call log at %s works again; every row is written", self.path)
                self._problem = None

    def _end(self) -> None:
        # under self._cond: a new writer may start as soon as this one is marked gone
        self._disconnect()
        self._writer = None

    def _write(self, batch: list[dict[str, Any]]) -> None:
        changed = self._file_changed()
        if self._conn is None or changed:
            self._disconnect()
            self._connect()
            if changed:
                # the file this log wrote to is gone (folder removed, file replaced): write
                # this session's rows again, so the new file agrees with memory
                self._rewrite_session()
        conn = self._conn
        assert conn is not None
        logfile.insert(conn, batch)

    def _file_changed(self) -> bool:
        try:
            st = os.stat(self.path)  # type: ignore[arg-type]
        except OSError:
            return True
        return (st.st_dev, st.st_ino) != self._inode

    def _connect(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path)
        try:
            logfile.retry_locked(lambda: logfile.prepare(conn, BUSY_SECONDS))
            st = os.stat(self.path)
        except BaseException:
            conn.close()
            raise
        self._conn, self._inode = conn, (st.st_dev, st.st_ino)

    def _rewrite_session(self) -> None:
        conn = self._conn
        assert conn is not None
        have = set(conn.execute("SELECT call_id, attempt FROM attempts WHERE session_id = ?", [self.session_id]))
        with self._cond:
            pending = {id(r) for r in self._pending}
            missing = [r for r in self._rows if id(r) not in pending and (r["call_id"], r["attempt"]) not in have]
        if missing:
            logfile.insert(conn, missing)

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def _failed(self, exc: BaseException) -> None:
        self._disconnect()  # open afresh next time: the file may have been moved or recreated
        self._problem = f"{type(exc).__name__}: {exc}"
        if self._told:
            return
        self._told = True
        _logger.warning(
            "vessel_nb: the call log at %s cannot be written (%s). Your calls go on and their rows are "
            "kept in memory (log.df); they will be written when the file works again. Fix: %s",
            self.path,
            exc,
            logfile.fix(exc, self.path),
        )


def _connect(path: Path) -> sqlite3.Connection:
    """A connection for the writer thread (a seam for tests that simulate failing files)."""
    return logfile.connect(path, BUSY_SECONDS)


_ATTEMPT_FIELDS = tuple(f.name for f in dataclasses.fields(Attempt))


def _encodable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _watch_at_exit(log: CallLog) -> None:
    global _atexit_registered
    _live.add(log)
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(_flush_at_exit)


def _flush_at_exit() -> None:
    # Bounded: a file that still fails must not keep the interpreter from exiting.
    deadline = time.monotonic() + EXIT_FLUSH_SECONDS
    for log in list(_live):
        if log.unwritten:
            log.close(timeout=max(0.0, deadline - time.monotonic()))
