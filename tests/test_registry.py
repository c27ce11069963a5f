"""The provider registry is the one table: config, classroom, practice fleet and servers read it."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from vessel_nb import classroom, config
from vessel_nb.adapters.registry import ADAPTERS, PRACTICE, PROVIDERS, VESSELS, provider


def test_every_name_finds_its_row():
    for row in PROVIDERS:
        for name in row.names:
            assert provider(name) is row
            assert ADAPTERS[name] is row.adapter
    with pytest.raises(KeyError):
        provider("ghost")


def test_env_variables_come_from_the_adapter_classes():
    claude = provider("anthropic")
    assert claude.key_env == ("ANTHROPIC_API_KEY",) and claude.url_env == "ANTHROPIC_BASE_URL"
    assert provider("ollama").key_env == ()  # a local server takes no key


def test_readers_agree_with_the_registry(monkeypatch):
    monkeypatch.delenv("VESSEL_NB_OLLAMA_MODEL", raising=False)
    assert classroom.VESSELS == VESSELS
    assert list(config.default_vessels()) == list(VESSELS)
    from vessel_nb.practice import PROVIDERS as SERVERS
    from vessel_nb.practice.fleet import MODELS
    from vessel_nb.practice.fleet import VESSELS as FLEET_VESSELS

    assert SERVERS == PRACTICE
    assert FLEET_VESSELS == {row.practice: row.vessel for row in PROVIDERS}
    for row in PROVIDERS:
        assert MODELS[row.practice] == row.practice_model
        module = importlib.import_module(f"vessel_nb.practice.{row.practice}")
        listed = getattr(module, "DEFAULT_MODEL", None) or str(module.normalize_models(None))
        assert row.practice_model in listed, "the practice server lists the model a practice vessel asks for"


def test_the_registry_does_not_import_tornado():
    code = "import sys, vessel_nb.adapters.registry, vessel_nb.classroom, vessel_nb.config; print('tornado' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
