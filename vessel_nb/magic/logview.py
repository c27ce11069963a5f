"""``%ask log``: the call log as a person reads it.

The log itself (``orch.log.df``) keeps every column, at full precision, oldest first, for
analysis. ``%ask log`` shows the columns that answer "what happened to my calls": when,
which vessel, how it ended and why it was picked, where it fell back from, how fast, how
many tokens — rounded, newest first, the prompt shortened. ``--all`` keeps every column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .render import REASON_WORDS, short_detail

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["time", "vessel", "outcome", "reason", "fallback from", "first token", "total", "tokens", "prompt"]
"""the columns ``%ask log`` shows"""

PROMPT_CHARS = 40
"""how much of a prompt the readable log shows"""


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _secs(value: Any) -> str:
    return "" if _missing(value) else f"{value:.2f} s"


def _tokens(tokens_in: Any, tokens_out: Any) -> str:
    if _missing(tokens_in) and _missing(tokens_out):
        return ""
    i = "?" if _missing(tokens_in) else int(tokens_in)
    o = "?" if _missing(tokens_out) else int(tokens_out)
    return f"{i} in, {o} out"


def _outcome(row: Any) -> str:
    if row["outcome"] == "ok" or not row["error"]:
        return str(row["outcome"])
    return f"{row['outcome']}: {short_detail(str(row['vessel']), str(row['error']))}"


def _reason(code: Any) -> str:
    return ", ".join(REASON_WORDS.get(c, c) for c in str(code or "").split("+") if c)


def _prompt(text: Any) -> str:
    if not isinstance(text, str):
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= PROMPT_CHARS else flat[: PROMPT_CHARS - 1] + "…"


def _times(started: pd.Series) -> list[str]:
    """Local clock times; with the date too when the rows span more than one day."""
    stamps = [None if _missing(t) else t.to_pydatetime().astimezone() for t in started]
    days = {t.date() for t in stamps if t is not None}
    form = "%H:%M:%S" if len(days) <= 1 else "%Y-%m-%d %H:%M:%S"
    return ["" if t is None else t.strftime(form) for t in stamps]


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """The person's view of a log DataFrame (oldest first in, newest first out)."""
    import pandas as pd

    df = df.iloc[::-1].reset_index(drop=True)
    started = pd.to_datetime(df["started_at"], utc=True, errors="coerce", format="ISO8601")
    return pd.DataFrame(
        {
            "time": _times(started),
            "vessel": list(df["vessel"]),
            "outcome": [_outcome(r) for _, r in df.iterrows()],
            "reason": [_reason(c) for c in df["reason"]],
            "fallback from": [v or "" for v in df["fallback_from"].fillna("")],
            "first token": [_secs(v) for v in df["ttft_s"]],
            "total": [_secs(v) for v in df["latency_s"]],
            "tokens": [_tokens(i, o) for i, o in zip(df["tokens_in"], df["tokens_out"], strict=True)],
            "prompt": [_prompt(p) for p in df["prompt"]],
        },
        columns=COLUMNS,
    )


def newest_first(df: pd.DataFrame) -> pd.DataFrame:
    """Every column, most recent first (``%ask log --all``)."""
    return df.iloc[::-1].reset_index(drop=True)
