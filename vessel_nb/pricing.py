"""What a call costs: a price table per model, shipped with its date and source.

Prices are US dollars per million tokens: input, output, and cached input (tokens the
provider served from its prompt cache, billed lower). A model is found by its exact name,
else by the longest shipped name it starts with, so ``claude-sonnet-4-5-20250929`` is
priced as ``claude-sonnet-4-5``. A local vessel costs nothing. A model with no price gives
``cost_usd = None`` ("unknown"), never a made-up number.

Prices change: the table says when it was taken and from where (:data:`PRICES_DATE`,
:data:`PRICES_SOURCE`). Override or add models in the config file::

    [prices."gpt-5"]
    input = 1.25        # $ per million input tokens
    output = 10.0       # $ per million output tokens
    cached = 0.125      # $ per million cached input tokens (optional; defaults to input)

or in code: ``orch.prices.set("my-model", input=0.5, output=1.5)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

PRICES_DATE = "2026-11-30"
"""the day the shipped prices were taken"""

PRICES_SOURCE = (
    "https://platform.claude.com/docs/en/about-claude/pricing, "
    "https://platform.openai.com/docs/pricing, https://ai.google.dev/gemini-api/docs/pricing "
    "(standard tier, prompts up to 200k tokens; read from stored copies of those pages and of "
    "pages quoting them on the date above, not checked live)"
)
"""where the shipped prices come from"""


@dataclass(frozen=True)
class Price:
    """One model's price in US dollars per million tokens."""

    input: float
    """input (prompt) tokens"""
    output: float
    """output tokens (reasoning tokens are billed as output)"""
    cached: float | None = None
    """input tokens served from the provider's prompt cache (None: billed as input)"""


_SHIPPED: dict[str, Price] = {
    # Anthropic (cache hits and refreshes as "cached")
    "claude-opus-4-5": Price(5.0, 25.0, 0.50),
    "claude-opus-4-6": Price(5.0, 25.0, 0.50),
    "claude-opus-4-7": Price(5.0, 25.0, 0.50),
    "claude-opus-4-8": Price(5.0, 25.0, 0.50),
    "claude-opus-5": Price(5.0, 25.0, 0.50),
    "claude-opus-4-1": Price(15.0, 75.0, 1.50),
    "claude-opus-4": Price(15.0, 75.0, 1.50),
    "claude-sonnet-4": Price(3.0, 15.0, 0.30),
    "claude-sonnet-4-5": Price(3.0, 15.0, 0.30),
    "claude-sonnet-4-6": Price(3.0, 15.0, 0.30),
    "claude-haiku-4-5": Price(1.0, 5.0, 0.10),
    "claude-3-5-haiku": Price(0.80, 4.0, 0.08),
    "claude-3-haiku": Price(0.25, 1.25, 0.03),
    # OpenAI
    "gpt-5": Price(1.25, 10.0, 0.125),
    "gpt-5-codex": Price(1.25, 10.0, 0.125),
    "gpt-5-mini": Price(0.25, 2.0, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-5.4": Price(2.50, 15.0, 0.25),
    "gpt-5.4-mini": Price(0.75, 4.50, 0.075),
    "gpt-5.4-nano": Price(0.20, 1.25, 0.02),
    "gpt-5.5": Price(5.0, 30.0, 0.50),
    "gpt-4.1": Price(2.0, 8.0, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.0, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "o3": Price(2.0, 8.0, 0.50),
    "o4-mini": Price(1.10, 4.40, 0.275),
    # Google Gemini (paid tier; context caching as "cached")
    "gemini-2.5-pro": Price(1.25, 10.0, 0.31),
    "gemini-2.5-flash": Price(0.30, 2.50, 0.075),
    "gemini-2.0-flash": Price(0.10, 0.40, 0.025),
}


IMAGE_TOKENS = 3000
"""input tokens held back per image when a budget reserves a call (providers scale images
down: Claude's largest is about 1,600 tokens, OpenAI's about 1,100-1,500)"""


def input_ceiling(messages: Any, system: str | None = None, images: int = 0) -> int:
    """More input tokens than a call can use, for a budget to reserve before the call.

    Every text that is sent counts, the system prompt included, in UTF-8 bytes: a token is
    at least one byte, so this holds for any tokenizer and any script (a character count
    does not: a CJK character is often a token or more), plus a few tokens per message for
    the chat template, plus :data:`IMAGE_TOKENS` per image.
    """
    texts = [str(m.get("content") or "") for m in messages] + ([system] if system else [])
    return sum(len(t.encode("utf-8", "replace")) + 8 for t in texts) + images * IMAGE_TOKENS + 16


def _per_million(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{what} must be a number of dollars per million tokens (0 or more), not {value!r}")
    return float(value)


class PriceTable:
    """Prices per model: the shipped table, the config file's ``[prices]``, and :meth:`set`."""

    def __init__(self, prices: dict[str, Price] | None = None) -> None:
        self._prices: dict[str, Price] = dict(_SHIPPED if prices is None else prices)
        self.date = PRICES_DATE
        self.source = PRICES_SOURCE

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> PriceTable:
        """The shipped table with the config file's ``[prices."MODEL"]`` tables applied."""
        from . import config

        table = cls()
        file = Path(path) if path else config.config_path()
        if file.is_file():
            prices = config._read(file).get("prices", {})
            if not isinstance(prices, dict):
                raise ConfigError(f'{file}: prices must be tables like [prices."gpt-5"], not {type(prices).__name__}')
            for model, spec in prices.items():
                if not isinstance(spec, dict):
                    raise ConfigError(f'{file}: [prices."{model}"] must be a table with input = ..., output = ...')
                unknown = sorted(set(spec) - {"input", "output", "cached"})
                missing = [k for k in ("input", "output") if k not in spec]
                if unknown or missing:
                    wrong = f"has an unknown field {unknown[0]!r}" if unknown else f"has no {missing[0]}"
                    raise ConfigError(
                        f'{file}: [prices."{model}"] {wrong}; it takes input = , output = and optionally '
                        "cached = (dollars per million tokens)"
                    )
                try:
                    table.set(model, **spec)
                except ConfigError as exc:
                    raise ConfigError(f'{file}: [prices."{model}"]: {exc}') from None
        return table

    def set(self, model: str, *, input: float, output: float, cached: float | None = None) -> None:  # noqa: A002
        """Price ``model`` (dollars per million input, output and cached input tokens)."""
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"the model to price must be a model name, not {model!r}")
        self._prices[model] = Price(
            _per_million(input, "input"),
            _per_million(output, "output"),
            None if cached is None else _per_million(cached, "cached"),
        )

    def get(self, model: str) -> Price | None:
        """The price of ``model``: exact name, else the longest priced name it starts with."""
        if model in self._prices:
            return self._prices[model]
        best = max((name for name in self._prices if model.startswith(name + "-")), key=len, default=None)
        return self._prices[best] if best else None

    def cost(self, model: str, usage: Any, *, local: bool = False) -> float | None:
        """Dollars for one answer's usage; 0 on a local vessel, None if the price or usage is unknown."""
        if local:
            return 0.0
        price = self.get(model)
        if price is None or usage is None or (usage.tokens_in is None and usage.tokens_out is None):
            return None
        tokens_in = usage.tokens_in or 0
        cached = min(getattr(usage, "tokens_cached", None) or 0, tokens_in)  # part of tokens_in
        rate_cached = price.input if price.cached is None else price.cached
        dollars = (tokens_in - cached) * price.input + cached * rate_cached + (usage.tokens_out or 0) * price.output
        return dollars / 1_000_000

    def estimate(self, model: str, tokens_in: int, tokens_out: int) -> float | None:
        """Dollars for a call of this size before it is made (for budgets); None if unpriced."""
        price = self.get(model)
        if price is None:
            return None
        return (tokens_in * price.input + tokens_out * price.output) / 1_000_000

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.get(model) is not None

    def __repr__(self) -> str:
        return f"PriceTable({len(self._prices)} models, prices of {self.date})"
