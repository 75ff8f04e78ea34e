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

The server fixture yields a fake that records requests (``request_count``) and accepts
``inject(StatusError(status, retry_after=...))``, rendering the error in its provider's own wire
format. Override `make_llm` if the model needs more than ``LLM(model, cache=False)``.
"""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType
from typing import Any, ClassVar

import pytest

import llmp
from llmp import errors
from llmp.types import ClientSettings, Usage

__all__ = ["ProviderConformance"]


class ProviderConformance:
    plugin: ClassVar[ModuleType]
    provider: ClassVar[str]
    model: ClassVar[str]
    sdk_modules: ClassVar[tuple[str, ...]] = ()
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

    # -- static contract ---------------------------------------------------------------------

    def test_routes_are_well_formed(self) -> None:
        rows = list(self.plugin.llmp_routes())
        assert rows, "a provider plugin contributes at least one route"
        for route in rows:
            assert isinstance(route, llmp.Route)
            assert route.pattern
            assert route.provider
            assert route.base_url is None or route.base_url.startswith(("http://", "https://"))
            assert route.key_env is None or route.key_env.isupper()
        registry = llmp.Registry(load_entry_points=False, plugins=[self.plugin])
        assert registry.resolve(self.model).route.provider == self.provider

    def test_create_client_declines_other_apis(self) -> None:
        other = ClientSettings("no-such-provider", "no-such-api", "https://example.invalid/v1", "k")
        assert self.plugin.llmp_create_client(provider="no-such-provider", settings=other) is None

    def test_request_hooks_decline_foreign_clients(self) -> None:
        foreign = object()
        request = llmp.Request(self.provider, self.model, [{"role": "user", "content": "x"}])
        for hook in ("llmp_call", "llmp_stream"):
            impl = getattr(self.plugin, hook, None)
            if impl is not None:
                assert impl(client=foreign, request=request) is None, f"{hook} claimed a foreign client"

    def test_price_is_non_negative_or_none(self) -> None:
        usage = Usage(input_tokens=1000, cached_input_tokens=100, output_tokens=500, reasoning_tokens=50)
        price = getattr(self.plugin, "llmp_price", None)
        if price is None:
            return
        resolved = llmp.Registry(load_entry_points=False, plugins=[self.plugin]).resolve(self.model)
        for model in (resolved.api_model, "surely-not-a-real-model-xyz"):
            for mode in ("standard", "batch"):
                cost = price(provider=self.provider, model=model, usage=usage, mode=mode)
                assert cost is None or min(cost.input, cost.cached_input, cost.output) >= 0
        assert (
            price(provider=self.provider, model="surely-not-a-real-model-xyz", usage=usage, mode="standard")
            is None
        )

    def test_discovery_imports_no_sdk(self) -> None:
        code = (
            "import sys, llmp\n"
            "llmp.Registry().table\n"
            f"leaked = [m for m in {list(self.sdk_modules)!r} if m in sys.modules]\n"
            "print('leaked:', leaked)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        assert out.stdout.strip() == "leaked: []", out.stdout + out.stderr

    # -- over the wire -----------------------------------------------------------------------

    def test_stream_joined_equals_call_and_usage_is_filled(self, server: Any) -> None:
        llm = self.make_llm(server)
        reply = llm.chat(self.prompt)
        assert isinstance(reply, str)
        assert reply
        assert llm.total_input_tokens > 0
        assert llm.total_output_tokens > 0
        streamed = list(llm.stream(self.prompt))
        assert "".join(streamed) == reply
        assert llm.usage.requests == 2
        assert llm.total_output_tokens > 0

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
