"""Bad input is one clear ConfigError, raised before anything is sent or logged: config files,
adapter arguments, addresses, time limits and text that cannot be encoded."""

from __future__ import annotations

import math

import pytest

import vessel_nb as vnb
from vessel_nb import ClaudeAdapter, ConfigError, OllamaAdapter, OpenAIAdapter, Timeouts
from vessel_nb.calllog import CallLog
from vessel_nb.config import default_setup


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("OLLAMA_HOST", "VESSEL_NB_CONFIG", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


# --- config files ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, words",
    [
        (
            '[vessels.claude]\nlocal = "false"\n',
            r"\[vessels.claude\] local = 'false' is a string; local must be true or false",
        ),
        ("[vessels.claude]\nlocal = 1\n", r"local = 1 is an integer; local must be true or false"),
        ("[vessels.x]\nprovider = 3\n", r"\[vessels.x\] provider = 3 is an integer; provider must be text"),
        ('[vessels.ollama]\nmax_tokens = "9"\n', r"max_tokens = '9' is a string; max_tokens must be a positive whole"),
        ("[vessels.ollama]\nmax_tokens = true\n", r"max_tokens = True is a boolean"),
        ("[vessels.ollama]\nmax_tokens = 0\n", r"\[vessels.ollama\].*max_tokens must be a positive whole number"),
        ('[vessels.ollama]\nvision = "yes"\n', r"vision = 'yes' is a string"),
        ("[vessels.ollama]\nmodel = []\n", r"model = \[\] is an array"),
        ('[vessels.ollama]\nbase_url = "http://[::1"\n', r"\[vessels.ollama\].*unclosed|Invalid IPv6"),
        ("vessels = 3\n", r"vessels must be tables like \[vessels.ollama\]"),
        ("[vessels]\nollama = 3\n", r"\[vessels.ollama\] must be a table"),
        ('priority = "ollama"\n', r"priority must be a list of vessel names"),
        ("priority = [1, 2]\n", r"priority must be a list of vessel names"),
        ('model = "x"\n', r"unknown setting 'model' at the top level"),
        ("[ollama]\nmodel = 'x'\n", r"unknown setting 'ollama' at the top level"),
    ],
)
def test_a_mistyped_config_file_is_one_error_naming_file_vessel_field_and_what_is_expected(tmp_path, text, words):
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=words) as info:
        default_setup(cfg)
    assert str(cfg) in str(info.value)


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_bytes(b'[vessels.ollama]\nmodel = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"byte 29 is not UTF-8; save the file as UTF-8") as info:
        default_setup(cfg)
    assert str(cfg) in str(info.value)


def test_a_local_string_never_makes_a_cloud_vessel_local(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[vessels.claude]\nlocal = "false"\n')
    with pytest.raises(ConfigError):
        default_setup(cfg)
    cfg.write_text("[vessels.claude]\nlocal = false\n")
    assert not default_setup(cfg).vessels["claude"].local


# --- adapter arguments ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"local": "false"}, "local must be True, False or None, not str 'false'"),
        ({"local": 1}, "local must be True, False or None, not int"),
        ({"vision": "yes"}, "vision must be True, False or None"),
        ({"thinking": 0}, "thinking must be True, False or None"),
        ({"max_tokens": "10"}, "max_tokens must be a positive whole number, not str"),
        ({"max_tokens": 0}, "max_tokens must be a positive whole number, not 0"),
        ({"max_tokens": True}, "max_tokens must be a positive whole number, not bool"),
        ({"timeouts": 5}, "timeouts must be a vessel_nb.Timeouts"),
        ({"name": 3}, "name must be a vessel name"),
        ({"api_key": 123}, "api_key must be text"),
        ({"api_key": "sk-\ud800"}, "api_key contains a character that cannot be encoded"),
        ({"base_url": 8080}, "base_url must be text"),
        ({"transport": "mock"}, "transport must be an httpx.AsyncBaseTransport"),
        ({"keep_alive": 1.5}, "keep_alive must be a duration"),
    ],
)
def test_adapter_arguments_are_type_checked(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        OllamaAdapter(**kwargs)


@pytest.mark.parametrize("cls", [ClaudeAdapter, OpenAIAdapter])
def test_cloud_adapters_check_the_same_arguments(cls):
    with pytest.raises(ConfigError, match="local must be True, False or None"):
        cls(model="m", local="true")


# --- addresses ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "given, url",
    [
        ("[::1]", "http://[::1]:11434"),
        ("[::1]:11500", "http://[::1]:11500"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("0.0.0.0:11500", "http://127.0.0.1:11500"),
        ("100.0.0.0", "http://100.0.0.0:11434"),  # once "10127.0.0.1"
        ("10.0.0.0:9", "http://10.0.0.0:9"),
        ("http://0.0.0.0.example:80", "http://0.0.0.0.example:80"),
        ("[::]", "http://[::1]:11434"),
        ("localhost", "http://localhost:11434"),
        ("https://ollama.example", "https://ollama.example"),  # a scheme means its own default port
        ("http://127.0.0.1:11434/", "http://127.0.0.1:11434"),
    ],
)
def test_ollama_host_is_read_as_ollama_reads_it(monkeypatch, given, url):
    monkeypatch.setenv("OLLAMA_HOST", given)
    assert OllamaAdapter().base_url == url


@pytest.mark.parametrize(
    "given, words",
    [
        ("http://", "has no host"),
        ("http://127.0.0.1:99999", "not a valid address"),
        ("http://127.0.0.1:port", "not a valid address"),
        ("http://127.0.0.1:0", "has port 0"),
        ("http://[::1", "not a valid address"),
        ("[::1", "not a valid address"),
        ("ftp://127.0.0.1", "must start with http:// or https://"),
        ("http://127.0.0.1:11434/?x=1", "must not have a"),
    ],
)
def test_a_bad_address_is_a_config_error_when_the_adapter_is_built(monkeypatch, given, words):
    monkeypatch.setenv("OLLAMA_HOST", given)
    with pytest.raises(ConfigError, match=f"ollama: OLLAMA_HOST .*{words}"):
        OllamaAdapter()
    with pytest.raises(ConfigError, match=f"base_url .*{words}"):
        OpenAIAdapter(model="m", base_url=given)


# --- time limits ----------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["connect", "first_token", "idle", "total"])
@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, "5", True])
def test_time_limits_are_positive_and_finite(field, value):
    with pytest.raises(ConfigError, match=f"Timeouts.{field} must be a positive number of seconds"):
        Timeouts(**{field: value})


def test_none_means_no_limit_except_for_connecting():
    assert Timeouts(first_token=None, idle=None, total=None).total is None
    with pytest.raises(ConfigError, match="a connection always has a limit"):
        Timeouts(connect=None)
    with pytest.raises(ConfigError):
        Timeouts().replace(total=0)


# --- text that cannot be encoded ------------------------------------------------------------
LONE = "a lone surrogate \udcff here"


@pytest.mark.parametrize(
    "messages, kwargs, where",
    [
        (LONE, {}, "the prompt"),
        ([{"role": "user", "content": LONE}], {}, "message 0"),
        ([{"role": "user", "content": "ok"}, {"role": "assistant", "content": LONE}], {}, "message 1"),
        ("ok", {"system": LONE}, "system"),
    ],
)
def test_text_that_cannot_be_encoded_is_one_error_before_anything_is_sent_or_logged(tmp_path, messages, kwargs, where):
    sent = []
    import httpx

    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(500))
    orch = vnb.AIOrchestrator({"ollama": OllamaAdapter(transport=transport)}, log_path=tmp_path / "calls.sqlite3")
    try:
        for face in (orch.ask, orch.stream_sync, orch.stream, orch.submit):
            with pytest.raises(ConfigError, match=f"{where} contains a character that cannot be encoded"):
                face(messages, **kwargs)
        assert sent == [] and len(orch.log.df) == 0
    finally:
        orch.close()
    log = CallLog(tmp_path / "calls.sqlite3")
    assert len(log.load_all()) == 0
    log.close()


@pytest.mark.parametrize("value", ["false", 1, None])
def test_task_flags_are_booleans(tmp_path, value):
    orch = vnb.AIOrchestrator({"ollama": OllamaAdapter()}, log_path=False)
    with pytest.raises(ConfigError, match=r"task\['private'\] must be True or False"):
        orch.ask("x", task={"private": value})
