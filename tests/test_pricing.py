"""The price table: lookups, costs, the config file's [prices], and bad values."""

from __future__ import annotations

import pytest

from vessel_nb import errors as E
from vessel_nb.pricing import PRICES_DATE, PRICES_SOURCE, PriceTable
from vessel_nb.types import Usage


def test_shipped_table_is_dated_and_sourced():
    table = PriceTable()
    assert PRICES_DATE == "2026-11-30" and "platform.claude.com" in PRICES_SOURCE and table.date == PRICES_DATE
    assert table.get("gpt-4o-mini").output == 0.60


def test_dated_model_names_find_their_family_and_unknown_is_none():
    table = PriceTable()
    assert table.get("claude-sonnet-4-5-20250929") == table.get("claude-sonnet-4-5")
    assert table.get("gpt-4o-mini-2024-07-18") == table.get("gpt-4o-mini")  # the longest match, not gpt-4o
    assert table.get("llama3.2") is None and "llama3.2" not in table
    assert table.cost("llama3.2", Usage(10, 10)) is None  # unknown is unknown, not 0


def test_cost_of_input_output_and_cached_tokens():
    table = PriceTable()
    table.set("m", input=2.0, output=10.0, cached=0.5)
    assert table.cost("m", Usage(1_000_000, 100_000)) == pytest.approx(2.0 + 1.0)
    usage = Usage(1_000_000, 0)
    usage.tokens_cached = 400_000  # part of tokens_in, billed at the cached rate
    assert table.cost("m", usage) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5)
    assert table.cost("m", Usage(1000, 1000), local=True) == 0.0
    assert table.cost("m", Usage(None, None)) is None
    assert table.estimate("m", 1_000_000, 1_000_000) == pytest.approx(12.0)


def test_config_file_overrides_and_adds(tmp_path):
    file = tmp_path / "config.toml"
    file.write_text(
        '[prices."gpt-4o"]\ninput = 1\noutput = 2\n\n[prices."my-model"]\ninput = 0.5\noutput = 1.5\ncached = 0.1\n'
    )
    table = PriceTable.from_config(file)
    assert table.get("gpt-4o").input == 1.0 and table.get("my-model").cached == 0.1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[prices."m"]\ninput = 1\n', "takes input = , output ="),
        ('[prices."m"]\ninput = 1\noutput = "2"\n', "output must be a number"),
        ('[prices."m"]\ninput = -1\noutput = 2\n', "input must be a number"),
        ('[prices."m"]\ninput = 1\noutput = 2\nextra = 3\n', "takes input = , output ="),
        ("prices = 3\n", "prices must be tables"),
    ],
)
def test_bad_prices_in_the_config_file_are_one_clear_error(tmp_path, text, message):
    file = tmp_path / "config.toml"
    file.write_text(text)
    with pytest.raises(E.ConfigError, match=message):
        PriceTable.from_config(file)


def test_set_refuses_bad_values():
    table = PriceTable()
    with pytest.raises(E.ConfigError, match="cached must be"):
        table.set("m", input=1, output=1, cached=float("nan"))
    with pytest.raises(E.ConfigError, match="model name"):
        table.set("", input=1, output=1)
    assert "m" not in table
