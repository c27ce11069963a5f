"""The call log's SQLite file: its table, how it is opened, written and read, and what to
tell a person when it cannot be written.

Mechanism only: no threads and no state. :mod:`.calllog` decides when to write, how long
to wait for another program's lock (passed in as ``busy_seconds``), and when to retry.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .types import Attempt

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = [f.name for f in dataclasses.fields(Attempt)] + ["session_id"]
_TYPES = {
    "attempt": "INTEGER",
    "ttft_s": "REAL",
    "first_thinking_s": "REAL",
    "latency_s": "REAL",
    "tokens_in": "INTEGER",
    "tokens_out": "INTEGER",
    "tokens_reasoning": "INTEGER",
    "tokens_cached": "INTEGER",
    "private": "INTEGER",
    "local": "INTEGER",
    "cost_usd": "REAL",
}

_INSERT = (
    f"INSERT INTO attempts ({', '.join(chr(34) + c + chr(34) for c in COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)


def connect(path: Path, busy_seconds: float) -> sqlite3.Connection:
    """A connection for the writer thread (autocommit: :func:`insert` opens its own transaction)."""
    return sqlite3.connect(path, timeout=busy_seconds, check_same_thread=False, isolation_level=None)


def prepare(conn: sqlite3.Connection, busy_seconds: float) -> None:
    """Set the file up for two kernels at once (WAL), and create or widen the table."""
    conn.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    cols = ", ".join(f'"{c}" {_TYPES.get(c, "TEXT")}' for c in COLUMNS)
    conn.execute(f"CREATE TABLE IF NOT EXISTS attempts ({cols})")
    have = {row[1] for row in conn.execute("PRAGMA table_info(attempts)")}
    for c in COLUMNS:  # files written by an older version gain new columns
        if c not in have:
            conn.execute(f'ALTER TABLE attempts ADD COLUMN "{c}" {_TYPES.get(c, "TEXT")}')
    # a run that resumes looks up its own rows among every session's
    conn.execute("CREATE INDEX IF NOT EXISTS attempts_run_id ON attempts (run_id)")


def retry_locked(fn, seconds: float = 10.0) -> None:
    """Call ``fn``, again while SQLite answers "locked", for at most ``seconds``."""
    # Switching to WAL needs a moment of exclusive access, and SQLite answers "locked"
    # at once (without its busy handler) when another kernel opens the file just then.
    deadline = time.monotonic() + seconds
    delay = 0.005
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def insert(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    """Write rows in one transaction: one fsync and one lock for many rows."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_INSERT, [[r[c] for c in COLUMNS] for r in rows])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def read(path: Path, busy_seconds: float, tail: str = "", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of the attempts table as dicts; ``tail`` is the SQL after ``SELECT * FROM attempts``.

    Raises :class:`sqlite3.Error` when the file cannot be read."""
    conn = sqlite3.connect(path, timeout=busy_seconds)
    try:
        cur = conn.execute(f"SELECT * FROM attempts {tail}", list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        conn.close()


def fix(exc: BaseException, path: Path | None) -> str:
    """What a person can do about a file that cannot be written, judging by the error."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        what = "another program holds the file locked; close it (e.g. a database browser)"
    elif "full" in text or "no space" in text:
        what = "free some disk space"
    elif "readonly" in text or "read-only" in text or "permission" in text:
        what = f"make {path} writable"
    elif isinstance(exc, OSError) or "unable to open" in text:
        what = f"make sure the folder {path.parent if path else ''} exists and is writable"
    else:
        what = "check the file"
    return f"{what}, or pass log_path= another file (log_path=False keeps the log in memory only)"


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Log rows as a DataFrame with the columns' types (a row may come from memory or the file)."""
    import pandas as pd  # only when a DataFrame is wanted: it costs ~0.3 s to import

    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("private", "local"):
        df[c] = df[c].astype(bool)
    for c in ("tokens_in", "tokens_out", "tokens_reasoning", "tokens_cached", "attempt"):
        df[c] = df[c].astype("Int64")
    for c in ("ttft_s", "first_thinking_s", "latency_s"):
        df[c] = df[c].astype("float64")
    if len(df):
        df["started_at"] = pd.to_datetime(df["started_at"], utc=True, format="ISO8601", errors="coerce")
    return df
