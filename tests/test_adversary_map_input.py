"""orch.map, attacked with bad input: each is one ConfigError naming what is wrong and what
would be right, raised before anything is sent or logged (no run starts)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from vessel_nb import errors as E

FRAME = pd.DataFrame({"text": ["an apple", "a pear"]})

CASES = {
    # prompts and templates
    "one string": (("hello",), {}, "not one string"),
    "a number": ((5,), {}, "not int"),
    "a generator": (((p for p in ["a"]),), {}, "not generator"),
    "an empty list": (([],), {}, "empty"),
    "a prompt that is not text": (([1],), {}, "prompt 0"),
    "a frame without template": ((FRAME,), {}, "needs template="),
    "a template naming a missing column": ((FRAME,), {"template": "Sum {body}"}, "{body}, which is not a field"),
    "a template naming no field": ((FRAME,), {"template": "Say hi"}, "names no field"),
    "a list with a template naming no field": ((["a", "b"],), {"template": "Say hi"}, "e.g. {prompt}"),
    "an empty cell": (
        (pd.DataFrame({"text": ["ok", None]}),),
        {"template": "Say {text}"},
        "prompt 1: field {text} is empty",
    ),
    "a NaN cell": ((pd.DataFrame({"n": [1.0, math.nan]}),), {"template": "Double {n}"}, "field {n} is empty"),
    "a lone surrogate": ((["fine", "bad \ud800"],), {}, "prompt 1"),
    # vessels and limits
    "vessels as a number": ((["a"],), {"vessels": 5}, "vessels= takes vessel names"),
    "vessels not names": ((["a"],), {"vessels": [1]}, "vessels= takes vessel names"),
    "an unknown vessel": ((["a"],), {"vessels": ["nope"]}, "unknown vessel 'nope'"),
    "no vessels": ((["a"],), {"vessels": []}, "empty"),
    "concurrency 0": ((["a"],), {"concurrency": 0}, "concurrency must be a whole number"),
    "per_vessel 0": ((["a"],), {"per_vessel": 0}, "per_vessel must be a whole number"),
    "per_vessel text": ((["a"],), {"per_vessel": "2"}, "per_vessel must be a whole number"),
    "per_vessel 0 for one vessel": (
        (["a"],),
        {"vessels": ["ollama"], "per_vessel": {"ollama": 0}},
        "per_vessel['ollama'] must be",
    ),
    "per_vessel of an unknown vessel": ((["a"],), {"per_vessel": {"nope": 1}}, "per_vessel names 'nope'"),
    "a negative budget": ((["a"],), {"vessels": ["ollama"], "budget_usd": -1}, "budget_usd must be"),
    "a NaN budget": ((["a"],), {"vessels": ["ollama"], "budget_usd": math.nan}, "budget_usd must be"),
    "a budget without prices": ((["a"],), {"vessels": ["claude"], "budget_usd": 1.0}, "needs the price"),
    "negative retries": ((["a"],), {"retries": -1}, "retries must be"),
    # call options
    "an unknown option": ((["a"],), {"temprature": 0.2}, "unknown option 'temprature'; a call takes"),
    "model= on a routed run": ((["a"],), {"model": "x"}, "name it with vessels="),
    "vessel= instead of vessels=": ((["a"],), {"vessel": "ollama"}, "vessels=[...]"),
    "a bad temperature": ((["a"],), {"temperature": "hot"}, "temperature"),
    "a bad task": ((["a"],), {"task": {"privat": True}}, "unknown task key"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_error_before_anything_is_sent_or_logged(orch, practice, case):
    args, kwargs, says = CASES[case]
    with pytest.raises(E.ConfigError) as info:
        orch.map(*args, progress=False, **kwargs)
    assert says in str(info.value), str(info.value)
    assert orch.log.rows == []
    assert all(practice[name].requests == [] for name in practice.names)


def test_an_unknown_option_is_a_config_error_on_every_face(orch, practice):
    with pytest.raises(E.ConfigError, match="unknown option 'temprature'"):
        orch.ask("hello", temprature=0.2)
    assert orch.log.rows == [] and practice["ollama"].requests == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[prices."gpt-5"]\ninput = 1\noutput = 2\ncachd = 0.1\n', "unknown field 'cachd'"),
        ('[prices."gpt-5"]\ninput = 1\n', "has no output"),
    ],
)
def test_a_price_table_error_names_the_field_that_is_wrong(tmp_path, text, says):
    from vessel_nb.pricing import PriceTable

    file = tmp_path / "config.toml"
    file.write_text(text)
    with pytest.raises(E.ConfigError, match=says):
        PriceTable.from_config(file)
