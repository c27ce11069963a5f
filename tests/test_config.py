"""Defaults from the environment, the optional config file, and bad input."""

from __future__ import annotations

import pytest

from vessel_nb import AIOrchestrator, ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter
from vessel_nb.config import default_setup
from vessel_nb.errors import ConfigError

ENV = (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "OLLAMA_HOST",
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
    "GEMINI_BASE_URL",
    "VESSEL_NB_CONFIG",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VESSEL_NB_LOG", str(tmp_path / "calls.sqlite3"))


def test_defaults_follow_each_sdk_convention():
    s = default_setup()
    assert s.priority == ["ollama", "claude", "openai", "gemini"]
    assert s.vessels["ollama"].base_url == "http://127.0.0.1:11434"
    assert s.vessels["claude"].base_url == "https://api.anthropic.com"
    assert s.vessels["openai"].base_url == "https://api.openai.com/v1"
    assert s.vessels["gemini"].base_url == "https://generativelanguage.googleapis.com"


def test_environment_sets_keys_and_addresses(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:11500")
    monkeypatch.setenv("GOOGLE_API_KEY", "g-key-123456")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
    s = default_setup()
    assert s.vessels["ollama"].base_url == "http://127.0.0.1:11500"
    assert s.vessels["gemini"].has_key and not s.vessels["claude"].has_key
    assert s.vessels["openai"].base_url == "http://127.0.0.1:8080/v1"


def test_local_rule():
    assert OllamaAdapter(base_url="http://127.0.0.1:11434").local
    assert OllamaAdapter(base_url="http://localhost:11434").local
    assert not OllamaAdapter(base_url="http://192.168.1.20:11434").local
    assert OllamaAdapter(base_url="http://192.168.1.20:11434", local=True).local
    # a cloud adapter on loopback may be a proxy to the cloud: not local unless declared
    for cls in (ClaudeAdapter, OpenAIAdapter, GeminiAdapter):
        assert not cls(model="m", api_key="k", base_url="http://127.0.0.1:9999").local
    assert OpenAIAdapter(model="m", base_url="http://127.0.0.1:8080/v1", local=True).local


def test_config_file_adds_a_vessel_and_reorders(tmp_path, monkeypatch):
    monkeypatch.setenv("LLAMA_KEY", "llama-secret-1")
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'priority = ["llamacpp", "ollama"]\n'
        '[vessels.ollama]\nmodel = "qwen2.5:7b"\n'
        '[vessels.llamacpp]\nprovider = "openai"\nbase_url = "http://127.0.0.1:8080/v1"\nmodel = "local"\n'
        'local = true\napi_key_env = "LLAMA_KEY"\n'
    )
    monkeypatch.setenv("VESSEL_NB_CONFIG", str(cfg))
    orch = AIOrchestrator()
    assert orch.priority[:2] == ["llamacpp", "ollama"] and set(orch.priority) == {
        "llamacpp",
        "ollama",
        "claude",
        "openai",
        "gemini",
    }
    assert orch.vessels["ollama"].model == "qwen2.5:7b"
    assert orch.vessels["llamacpp"].local and orch.vessels["llamacpp"].has_key
    assert "llama-secret-1" not in repr(orch) + repr(orch.describe())


def test_an_unset_api_key_env_is_named_and_never_replaced_by_the_usual_variable(tmp_path, monkeypatch):
    """api_key_env names the one key this vessel may use: when that variable is unset the
    vessel is down for a missing key (naming it), not quietly using OPENAI_API_KEY."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-default-account")
    monkeypatch.delenv("WORK_OPENAI_KEY", raising=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[vessels.work]\nprovider = "openai"\nmodel = "gpt-4o-mini"\napi_key_env = "WORK_OPENAI_KEY"\n')
    work = default_setup(cfg).vessels["work"]
    assert not work.has_key
    err = work.missing_key()
    assert err is not None and "WORK_OPENAI_KEY is not set" in str(err) and "OPENAI_API_KEY" not in str(err)
    assert default_setup(cfg).vessels["openai"].has_key  # the usual vessel keeps the usual variable
    monkeypatch.setenv("WORK_OPENAI_KEY", "sk-the-work-account")
    assert default_setup(cfg).vessels["work"].has_key and default_setup(cfg).vessels["work"].missing_key() is None


def test_a_codex_vessel_speaks_the_responses_api(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[vessels.codex]\nprovider = "openai"\nmodel = "gpt-5-codex"\napi = "responses"\n')
    codex = default_setup(cfg).vessels["codex"]
    assert codex.model == "gpt-5-codex" and codex.api_for() == "responses" and not codex.store
    assert codex.describe()["api"] == "responses"
    assert default_setup(cfg).vessels["openai"].describe()["api"] == "responses (auto)"  # OpenAI's own host


@pytest.mark.parametrize(
    "text, words",
    [
        ('[vessels.x]\nprovider = "claude"\napi_key = "sk-123"\n', "must not be written in files"),
        ('[vessels.x]\nprovider = "nope"\n', "provider = one of"),
        ('[vessels.x]\nprovider = "ollama"\nmodle = "a"\n', "unknown option 'modle'"),
        ('priority = ["ghost"]\n', "'ghost', which is not a vessel"),
        ("this is not toml", "cannot read the config file"),
        ('[vessels.x]\nprovider = "claude"\napi = "responses"\n', "api = ... is for provider = 'openai' only"),
        ('[vessels.x]\nprovider = "openai"\napi = "completions"\n', "use one of auto, chat, responses"),
    ],
)
def test_bad_config_files_get_one_clear_error(tmp_path, text, words):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=words):
        default_setup(cfg)


def test_a_vessel_may_be_a_pool_of_hosts(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[vessels.ollama]\nbase_url = ["127.0.0.1:11434", "127.0.0.1:11435"]\n'
        '[vessels.vllm]\nprovider = "openai"\nmodel = "m"\nbase_url = ["http://10.0.0.5:8000/v1", "http://10.0.0.6:8000/v1"]\n'
    )
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11500")  # the file's list wins; the variable is one host
    s = default_setup(cfg)
    assert s.vessels["ollama"].hosts == ("http://127.0.0.1:11434", "http://127.0.0.1:11435")
    assert s.vessels["ollama"].local and not s.vessels["vllm"].local
    assert s.vessels["vllm"].hosts == ("http://10.0.0.5:8000/v1", "http://10.0.0.6:8000/v1")


@pytest.mark.parametrize(
    "value, words",
    [
        ("[]", r"c\.toml: \[vessels\.pool\]: .*base_url is an empty list; give at least one address"),
        ('["127.0.0.1:1", 2]', r"\[vessels\.pool\]: .*base_url\[1\] must be text like .*, not int 2"),
        (
            '["127.0.0.1:1", "http://127.0.0.1:1"]',
            r"names http://127\.0\.0\.1:1 twice \(base_url\[0\] and base_url\[1\]\)",
        ),
        ("{ a = 1 }", r"base_url = \{'a': 1\} is a table; base_url must be text, .* or a list of such addresses"),
    ],
)
def test_a_bad_pool_in_the_file_is_one_clear_error(tmp_path, value, words):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[vessels.pool]\nprovider = "ollama"\nbase_url = {value}\n')
    with pytest.raises(ConfigError, match=words):
        default_setup(cfg)


def test_bad_constructor_input():
    with pytest.raises(ConfigError, match="needs a model name"):
        OllamaAdapter(model="")
    with pytest.raises(ConfigError, match="not an adapter"):
        AIOrchestrator({"x": object()}, log_path=False)
    with pytest.raises(ConfigError, match="'ghost', which is not a vessel"):
        AIOrchestrator({"o": OllamaAdapter()}, priority=["ghost"], log_path=False)
    orch = AIOrchestrator({"o": OllamaAdapter()}, log_path=False)
    with pytest.raises(ConfigError, match="unknown vessel 'x'"):
        orch.active = "x"
    orch.active = "o"
    orch.active = "auto"
    assert orch.active is None


def test_reprs_never_show_keys():
    a = ClaudeAdapter(api_key="sk-ant-very-secret-42")
    assert "very-secret" not in repr(a) and "very-secret" not in str(a.describe())
    assert a.redact("oops sk-ant-very-secret-42 leaked") == "oops *** leaked"
