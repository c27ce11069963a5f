"""The call log: one row per attempt, appended as it happens, kept in SQLite.

SQLite in WAL mode lets two kernels append to the same file at once (each insert is its
own short transaction; ``busy_timeout`` makes a writer wait for the other instead of
failing). A crash or a kernel restart loses nothing already appended. pandas is imported
only when a DataFrame is asked for.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .types import Attempt

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = [f.name for f in dataclasses.fields(Attempt)] + ["session_id"]
_TYPES = {
    "attempt": "INTEGER",
    "ttft_s": "REAL",
    "latency_s": "REAL",
    "tokens_in": "INTEGER",
    "tokens_out": "INTEGER",
    "private": "INTEGER",
    "local": "INTEGER",
}


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
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if path is False:
            self.path: Path | None = None
        else:
            self.path = default_path() if path in (None, True) else Path(path).expanduser()
            self._open()

    def _open(self) -> None:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
            _retry_locked(lambda: _prepare(conn))
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot open the call log at {self.path}: {exc}; pass log_path= a writable file, "
                "or log_path=False to keep the log in memory only"
            ) from None
        self._conn = conn

    def append(self, attempt: Attempt) -> None:
        """Record one attempt (memory and disk)."""
        row = dataclasses.asdict(attempt)
        row["session_id"] = self.session_id
        if not self.keep_text:
            row["prompt"] = row["response"] = None
        with self._lock:
            self._rows.append(row)
            if self._conn is not None:
                self._conn.execute(
                    f"INSERT INTO attempts ({', '.join(chr(34) + c + chr(34) for c in COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in COLUMNS)})",
                    [row[c] for c in COLUMNS],
                )

    @property
    def rows(self) -> list[dict[str, Any]]:
        """This session's rows as dicts (a copy)."""
        with self._lock:
            return [dict(r) for r in self._rows]

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def df(self) -> pd.DataFrame:
        """This session's attempts as a DataFrame, oldest first."""
        return _frame(self.rows)

    def load_all(self) -> pd.DataFrame:
        """Every session's attempts from the SQLite file."""
        if self._conn is None:
            return self.df
        with self._lock:
            cur = self._conn.execute("SELECT * FROM attempts ORDER BY started_at, call_id, attempt")
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return _frame(rows)

    def close(self) -> None:
        """Close the file (rows already appended are on disk)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __repr__(self) -> str:
        where = str(self.path) if self.path else "memory only"
        return f"CallLog({len(self)} attempts this session, {where})"


def _prepare(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    cols = ", ".join(f'"{c}" {_TYPES.get(c, "TEXT")}' for c in COLUMNS)
    conn.execute(f"CREATE TABLE IF NOT EXISTS attempts ({cols})")
    have = {row[1] for row in conn.execute("PRAGMA table_info(attempts)")}
    for c in COLUMNS:  # files written by an older version gain new columns
        if c not in have:
            conn.execute(f'ALTER TABLE attempts ADD COLUMN "{c}" {_TYPES.get(c, "TEXT")}')


def _retry_locked(fn, seconds: float = 10.0) -> None:
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


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd  # only when a DataFrame is wanted: it costs ~0.3 s to import

    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("private", "local"):
        df[c] = df[c].astype(bool)
    for c in ("tokens_in", "tokens_out", "attempt"):
        df[c] = df[c].astype("Int64")
    for c in ("ttft_s", "latency_s"):
        df[c] = df[c].astype("float64")
    if len(df):
        df["started_at"] = pd.to_datetime(df["started_at"], utc=True, format="ISO8601", errors="coerce")
    return df
