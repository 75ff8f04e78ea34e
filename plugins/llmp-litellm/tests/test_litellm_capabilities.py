"""Capabilities per model: litellm's own model information, for Anthropic read without importing
litellm, and the same answers litellm gives."""

import logging
import subprocess
import sys

import pytest

from llmp._params import COMMON_PARAMS
from llmp.types import ClientSettings
from llmp_litellm import _hooks
from llmp_litellm._capabilities import ANTHROPIC_UNSUPPORTED, capabilities_for
from llmp_litellm._client import import_litellm


def client(provider: str = "anthropic"):  # type: ignore[no-untyped-def]
    return _hooks.llmp_apis()["litellm"](ClientSettings(provider, "litellm", None, "k"))


def test_anthropic_capabilities() -> None:
    caps = client().capabilities("claude-sonnet-4-6")
    assert (caps.tools, caps.parallel_tool_calls, caps.json_schema, caps.vision) == (True, True, True, True)
    assert (caps.reasoning, caps.reasoning_text, caps.batch, caps.streaming) == (True, True, True, True)
    assert caps.n is False  # the Messages API has no n: the core sends single-sample requests
    assert caps.logprobs is False
    assert caps.max_output_tokens == 64_000
    assert "thinking" in caps.params
    snapshot = client().capabilities("claude-sonnet-4-6-20991231")  # not in the map: its alias's
    assert snapshot == caps
    unknown = client().capabilities("claude-not-a-model-9")
    assert (unknown.tools, unknown.json_schema, unknown.vision, unknown.reasoning) == (False,) * 4


def test_anthropic_answers_equal_litellms_for_every_claude_model_in_its_map() -> None:
    litellm = import_litellm()
    claude = [
        name
        for name, entry in litellm.model_cost.items()
        if entry.get("litellm_provider") == "anthropic" and entry.get("mode") == "chat"
    ]
    assert len(claude) >= 15
    for name in claude:
        caps = capabilities_for("anthropic", name)
        theirs = (
            litellm.supports_function_calling(model=name, custom_llm_provider="anthropic"),
            litellm.supports_response_schema(model=name, custom_llm_provider="anthropic"),
            litellm.supports_vision(model=name, custom_llm_provider="anthropic"),
            litellm.supports_reasoning(model=name, custom_llm_provider="anthropic"),
        )
        assert (caps.tools, caps.json_schema, caps.vision, caps.reasoning) == theirs, name


def test_anthropic_capabilities_read_the_map_once_without_importing_litellm() -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from llmp.types import ClientSettings\n"
        "from llmp_litellm import _hooks\n"
        "reads, read = [], Path.read_bytes\n"
        "Path.read_bytes = lambda self: reads.append(self.name) or read(self)\n"
        "client = _hooks.llmp_apis()['litellm'](ClientSettings('anthropic', 'litellm', None, 'k'))\n"
        "models = ('claude-haiku-4-5', 'claude-sonnet-4-6', 'claude-opus-4-6')\n"
        "caps = [client.capabilities(m) for m in models]\n"
        "print(all(c.tools and c.json_schema for c in caps), 'litellm' in sys.modules, *reads)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert out.stdout.split() == ["True", "False", "model_prices_and_context_window_backup.json"], (
        out.stdout + out.stderr
    )


def test_the_params_anthropic_refuses_are_those_litellm_refuses() -> None:
    from litellm.exceptions import UnsupportedParamsError
    from litellm.utils import get_optional_params

    values = {"stop": ["x"], "logit_bias": {"1": 1}, "user": "u1", "logprobs": True, "store": True}
    # metadata and extra_body are litellm call keywords, not OpenAI parameters it maps.
    for name in sorted(COMMON_PARAMS - {"metadata", "extra_body"}):
        value = values.get(name, "auto" if name == "service_tier" else 1)
        try:
            get_optional_params(model="claude-sonnet-4-6", custom_llm_provider="anthropic", **{name: value})
        except UnsupportedParamsError:
            refused = True
        else:
            refused = False
        assert refused == (name in ANTHROPIC_UNSUPPORTED), name


def test_catch_all_capabilities_are_litellms() -> None:
    litellm = import_litellm()
    for model in ("groq/llama-3.3-70b-versatile", "mistral/mistral-large-latest", "gemini/gemini-2.5-flash"):
        caps = client("litellm").capabilities(model)
        assert caps.tools == litellm.supports_function_calling(model=model)
        assert caps.vision == litellm.supports_vision(model=model)
        assert caps.json_schema == litellm.supports_response_schema(model=model)
        assert caps.n == ("n" in (litellm.get_supported_openai_params(model=model) or ()))
        assert caps.batch is False
    assert client("litellm").capabilities("groq/llama-3.3-70b-versatile").n is True
    assert client("litellm").capabilities("mistral/mistral-large-latest").n is False


def test_a_model_litellm_cannot_place_is_logged_and_fans_out(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 14 item 25: litellm's failure was swallowed (``except Exception: params = None``) and
    ``n`` then sent as it was; now it is said, and n samples go as single requests."""
    caplog.set_level(logging.INFO, logger="llmp.litellm")
    caps = client("litellm").capabilities("some-bare-model")
    assert caps.n is False
    (record,) = [r for r in caplog.records if r.name == "llmp.litellm"]
    assert "some-bare-model" in record.getMessage()
    assert "single requests" in record.getMessage()
