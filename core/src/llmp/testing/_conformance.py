"""`ProviderConformance`: the tests every provider plugin passes, for subclassing in a few lines.

```python
from llmp.testing import ProviderConformance

class TestAcmeConformance(ProviderConformance):
    plugin = llmp_acme._hooks            # the entry-point module
    provider = "acme"
    model = "acme/big-model"
    sdk_modules = ("acme_sdk",)          # must not be imported by discovery

    @pytest.fixture
    def server(self, fake_acme):         # a running fake of the provider's wire, env pointed at it
        return fake_acme
```

The server fixture yields a fake that records requests (``request_count``), accepts
``inject(fault, times=...)`` for `StatusError` and `EmptyAnswer` (rendered in its provider's own
wire format) and answers by `llmp.testing.plan_answer`'s rules (tool calls, structured output,
reasoning, images). Rich checks run for what the client says it can do for `model`
(`Client.capabilities`); what it cannot do must be refused before anything is sent. Override
`make_llm` if the model needs more than ``LLM(model, cache=False)``.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from types import ModuleType
from typing import Any, ClassVar

import pytest

import llmp
from llmp import errors
from llmp.types import Capabilities, Client, ClientSettings, Usage

__all__ = ["ProviderConformance"]

# A 1x1 PNG: every provider with vision accepts it.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def _weather(city: str) -> str:
    """The current weather in a city.

    Args:
        city: The city's name.
    """
    return f"sunny in {city}"


def _time(zone: str) -> str:
    """The current time in a time zone.

    Args:
        zone: An IANA time zone.
    """
    return f"noon in {zone}"


class ProviderConformance:
    plugin: ClassVar[ModuleType]
    provider: ClassVar[str]
    model: ClassVar[str]
    sdk_modules: ClassVar[tuple[str, ...]] = ()
    #: Whether the plugin prices `model` (then its price hook must, with a positive price).
    priced: ClassVar[bool] = True
    prompt: ClassVar[str] = "conformance check one two three"

    @pytest.fixture
    def server(self) -> Any:  # pragma: no cover - subclasses provide it
        raise NotImplementedError("subclass ProviderConformance and provide a `server` fixture")

    def make_llm(self, server: Any, **kwargs: Any) -> llmp.LLM:
        kwargs.setdefault("cache", False)
        return llmp.LLM(self.model, **kwargs)

    def inject_status(self, server: Any, status: int, retry_after: float | None = None) -> None:
        from llmp.testing import StatusError

        server.inject(StatusError(status, retry_after=retry_after), times=None)

    def registry(self) -> llmp.Registry:
        return llmp.Registry(load_entry_points=False, plugins=[self.plugin])

    def capabilities(self, server: Any) -> Capabilities:
        llm = self.make_llm(server)
        return llm._engine.capabilities()

    # -- static contract ---------------------------------------------------------------------

    def test_routes_name_apis_this_plugin_registers(self) -> None:
        rows = list(self.plugin.llmp_routes())
        assert rows, "a provider plugin contributes at least one route"
        apis = dict(self.plugin.llmp_apis()) if hasattr(self.plugin, "llmp_apis") else {}
        for route in rows:
            assert isinstance(route, llmp.Route)
            assert route.pattern
            assert route.provider
            assert route.base_url is None or route.base_url.startswith(("http://", "https://"))
            assert route.key_env is None or route.key_env.isupper()
            assert route.wire_api in apis, (
                f"route {route.pattern!r} names api {route.wire_api!r}, not registered"
            )
        assert self.registry().resolve(self.model).route.provider == self.provider

    def test_factories_build_clients_without_io(self) -> None:
        for api, factory in dict(self.plugin.llmp_apis()).items():
            client = factory(
                ClientSettings(self.provider, api, "https://example.invalid/v1", "k-conformance")
            )
            assert isinstance(client, Client), f"{api}: the factory's object lacks Client methods"
            assert "k-conformance" not in repr(client), "a key leaked into the client's repr"
            caps = client.capabilities(self.model.split("/", 1)[-1])
            assert isinstance(caps, Capabilities)

    def test_price_is_positive_for_the_model_and_none_for_unknown(self) -> None:
        usage = Usage(input_tokens=1000, cached_input_tokens=100, output_tokens=500, reasoning_tokens=50)
        price = getattr(self.plugin, "llmp_price", None)
        resolved = self.registry().resolve(self.model)
        if not self.priced:
            assert (
                price is None
                or price(provider=self.provider, model=resolved.api_model, usage=usage, mode="standard")
                is None
            )
            return
        assert price is not None, "set priced = False on the conformance class if the plugin has no prices"
        # A batch price exists only where the client has a batch API (asked without any I/O).
        factory = dict(self.plugin.llmp_apis())[resolved.route.wire_api]
        client = factory(
            ClientSettings(self.provider, resolved.route.wire_api, "https://example.invalid/v1", "k")
        )
        for mode in ("standard", "batch") if client.capabilities(resolved.api_model).batch else ("standard",):
            cost = price(provider=self.provider, model=resolved.api_model, usage=usage, mode=mode)
            assert cost is not None, f"no {mode} price for {resolved.api_model}"
            assert min(cost.input, cost.cached_input, cost.output) >= 0
            assert cost.total > 0
        unknown = price(
            provider=self.provider, model="surely-not-a-real-model-xyz", usage=usage, mode="standard"
        )
        assert unknown is None

    def test_discovery_imports_no_sdk(self) -> None:
        code = (
            "import sys, llmp\n"
            "llmp.Registry().table\n"
            f"leaked = [m for m in {list(self.sdk_modules)!r} if m in sys.modules]\n"
            "print('leaked:', leaked)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        assert out.stdout.strip() == "leaked: []", out.stdout + out.stderr

    # -- text over the wire ------------------------------------------------------------------

    def test_call_and_stream_agree_on_text_and_usage(self, server: Any) -> None:
        llm = self.make_llm(server)
        response = llm.complete(self.prompt)
        assert response.text
        assert response.finish_reason == "stop"
        assert response.usage.input_tokens > 0
        assert response.usage.output_tokens > 0
        assert response.provider == self.provider
        assert response.latency is not None
        assert not response.cached
        events = llm.stream_events(self.prompt)
        chunks = list(events)
        streamed = events.response
        assert "".join(c.text for c in chunks) == response.text
        assert streamed.text == response.text
        assert streamed.usage.input_tokens == response.usage.input_tokens
        assert streamed.usage.output_tokens == response.usage.output_tokens
        assert "".join(llm.stream(self.prompt)) == response.text
        assert llm.usage.requests == 3

    def test_chat_returns_the_text(self, server: Any) -> None:
        llm = self.make_llm(server)
        assert llm.chat(self.prompt) == llm.complete(self.prompt).text

    @pytest.mark.parametrize(
        ("status", "error"),
        [
            (400, errors.BadRequestError),
            (401, errors.AuthenticationError),
            (429, errors.RateLimitError),
            (500, errors.ServerError),
            (503, errors.ServerError),
        ],
    )
    def test_status_maps_to_llmp_error(self, server: Any, status: int, error: type[Exception]) -> None:
        self.inject_status(server, status, retry_after=0.01 if status == 429 else None)
        llm = self.make_llm(server, max_retries=0)
        with pytest.raises(error) as info:
            llm.chat(self.prompt)
        assert getattr(info.value, "status_code", None) == status
        if status == 429:
            assert info.value.retry_after == pytest.approx(0.01, abs=0.01)  # type: ignore[attr-defined]

    def test_retryable_errors_are_retried_by_the_core(self, server: Any) -> None:
        from llmp.testing import StatusError

        server.inject(StatusError(503), times=1)
        server.inject(StatusError(429, retry_after=0.01), times=1)
        llm = self.make_llm(server)
        assert llm.chat(self.prompt)
        assert server.request_count == 3

    def test_empty_answer_is_an_error_with_usage_and_never_cached(self, server: Any, tmp_path: Any) -> None:
        from llmp.testing import EmptyAnswer

        server.inject(EmptyAnswer(), times=1)
        llm = self.make_llm(server, cache=str(tmp_path / "cache"), temperature=0)
        with pytest.raises(errors.EmptyResponseError) as info:
            llm.chat(self.prompt)
        assert server.request_count == 1, "a deterministic empty answer is not retried"
        assert info.value.usage is not None
        assert llm.chat(self.prompt), "the empty answer was cached"
        assert server.request_count == 2

    # -- rich results ------------------------------------------------------------------------

    def test_tool_round_trip(self, server: Any) -> None:
        if not self.capabilities(server).tools:
            return self._refused(server, "tools", tools=[_weather])
        llm = self.make_llm(server)
        first = llm.complete("What is the weather in Paris?", tools=[_weather])
        assert first.finish_reason == "tool_calls"
        (call,) = first.tool_calls
        assert call.name == "_weather"
        assert isinstance(call.args()["city"], str)
        assert call.id
        answer = llm.complete("What is the weather in Paris?", tools=[_weather], max_turns=3)
        assert "sunny in" in answer.text
        assert answer.messages is not None
        assert [m["role"] for m in answer.messages] == ["user", "assistant", "tool", "assistant"]
        assert answer.usage.output_tokens >= first.usage.output_tokens
        events = llm.stream_events("What is the weather in Paris?", tools=[_weather])
        list(events)
        streamed = events.response.tool_calls
        assert [(c.name, c.args()) for c in streamed] == [(c.name, c.args()) for c in first.tool_calls]

    def test_tool_choice_names_a_tool(self, server: Any) -> None:
        if not self.capabilities(server).tools:
            return None
        llm = self.make_llm(server)
        response = llm.complete("What time is it?", tools=[_weather, _time], tool_choice="_time")
        assert [c.name for c in response.tool_calls] == ["_time"]
        return None

    def test_parallel_tool_calls(self, server: Any) -> None:
        caps = self.capabilities(server)
        if not caps.tools:
            return None
        llm = self.make_llm(server)
        if not caps.parallel_tool_calls:
            return self._refused(
                server, "parallel_tool_calls", tools=[_weather, _time], parallel_tool_calls=True
            )
        response = llm.complete("parallel: weather and time", tools=[_weather, _time])
        assert [c.name for c in response.tool_calls] == ["_weather", "_time"]
        answer = llm.complete("parallel: weather and time", tools=[_weather, _time], max_turns=3)
        assert "sunny in" in answer.text
        assert "noon in" in answer.text
        return None

    def test_structured_output(self, server: Any) -> None:
        from pydantic import BaseModel

        class City(BaseModel):
            name: str
            population: int

        if not self.capabilities(server).json_schema:
            return self._refused(server, "json_schema", response_format=City)
        llm = self.make_llm(server)
        results = llm.generate([f"describe city {i}" for i in range(5)], response_format=City)
        assert len(results) == 5
        assert all(isinstance(city, City) for (city,) in results)
        streamed = llm.stream_events("describe city 0", response_format=City)
        list(streamed)
        assert isinstance(streamed.response.parsed, City)
        return None

    def test_reasoning(self, server: Any) -> None:
        caps = self.capabilities(server)
        if not caps.reasoning:
            return self._refused(server, "reasoning", reasoning="high")
        llm = self.make_llm(server)
        response = llm.complete(self.prompt, reasoning="high")
        assert response.text
        if caps.reasoning_text:
            assert response.reasoning
            events = llm.stream_events(self.prompt, reasoning="high")
            chunks = list(events)
            assert "".join(c.reasoning for c in chunks) == response.reasoning
        return None

    def test_image_input(self, server: Any) -> None:
        message = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, llmp.image(PNG)]}]
        if not self.capabilities(server).vision:
            return self._refused(server, "vision", messages=message)
        llm = self.make_llm(server)
        assert "[saw 1 image(s)]" in llm.complete(message).text
        return None

    def _refused(self, server: Any, feature: str, *, messages: Any = None, **options: Any) -> None:
        llm = self.make_llm(server)
        before = server.request_count
        with pytest.raises(errors.UnsupportedFeatureError) as info:
            llm.complete(messages or self.prompt, **options)
        assert info.value.feature == feature
        assert server.request_count == before, "a request was sent although the feature is unsupported"

    # -- lifetime ----------------------------------------------------------------------------

    def test_close_releases_the_client(self, server: Any) -> None:
        registry = self.registry()  # its own client pool: no other test's LLM shares the client
        with self.make_llm(server, registry=registry) as llm:
            llm.chat(self.prompt)
            assert registry.clients.alive(self.provider) == 1
        assert registry.clients.alive(self.provider) == 0
