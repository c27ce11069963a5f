"""CallOptions: checked once, frozen, and shared when a call sets no option."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from vessel_nb import Timeouts
from vessel_nb import errors as E
from vessel_nb.routing import Task
from vessel_nb.types import CallOptions


def test_calls_without_options_share_one_frozen_instance_that_replace_leaves_alone():
    plain = CallOptions.build()
    assert CallOptions.build(think=False) is plain and plain == CallOptions()
    resolved = plain.replace(model="llama3.2", max_tokens=5)
    assert (resolved.model, resolved.max_tokens) == ("llama3.2", 5)
    assert (plain.model, plain.max_tokens) == (None, None)  # the shared one is unchanged
    assert resolved.images == () and isinstance(resolved.extra, MappingProxyType)
    with pytest.raises(AttributeError):
        resolved.model = "other"  # still frozen
    assert plain.replace(model=None) is plain

    thinking = CallOptions.build(think=True)
    assert thinking.think is True and thinking is not plain
    limits = Timeouts(connect=1)
    assert CallOptions.build(timeouts=limits).timeouts is limits


def test_what_the_shared_path_skips_is_still_checked():
    with pytest.raises(E.ConfigError, match="timeouts must be a vessel_nb.Timeouts"):
        CallOptions.build(timeouts={"connect": 1})  # unhashable: an error naming it, not a TypeError
    with pytest.raises(E.ConfigError, match="images must be a list"):
        CallOptions.build(images="photo.png")
    with pytest.raises(E.ConfigError, match="extra must be a dict"):
        CallOptions.build(extra=[("a", 1)])


def test_replace_of_what_is_frozen_freezes_it_again():
    changed = CallOptions.build().replace(extra={"seed": 1})
    assert isinstance(changed.extra, MappingProxyType) and changed.extra == {"seed": 1}
    with pytest.raises(TypeError):
        CallOptions.build().replace(colour="red")  # an unknown option stays dataclasses.replace's error


def test_a_call_without_task_needs_nothing():
    assert Task.parse(None) == Task() and Task.parse(None) is Task.parse(None)
    assert Task.parse({"private": True}).local_only
