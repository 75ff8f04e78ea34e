"""Routing: Anthropic, and the catch-all at the lowest priority."""

import llmp
from llmp.types import Route
from llmp_litellm import _hooks
from llmp_litellm._routes import CATCH_ALL_PRIORITY
from llmp_openai.testing import FakeOpenAIServer


class OtherPlugin:
    """A plugin claiming one family of names, and a catch-all of its own at the default priority."""

    @llmp.hookimpl
    def llmp_routes(self) -> list[Route]:
        return [Route("mistral/*", "mistral", api="other"), Route("*", "other-catch-all", api="other")]


def test_anthropic_route() -> None:
    registry = llmp.Registry(load_entry_points=False, plugins=[_hooks])
    resolved = registry.resolve("anthropic/claude-sonnet-4-6")
    route = resolved.route
    assert (route.provider, route.wire_api, route.key_env, route.base_url_env) == (
        "anthropic",
        "litellm",
        "ANTHROPIC",
        "ANTHROPIC_BASE_URL",
    )
    assert route.base_url == "https://api.anthropic.com"
    assert resolved.api_model == "claude-sonnet-4-6"


def test_catch_all_serves_any_name_as_is() -> None:
    registry = llmp.Registry(load_entry_points=False, plugins=[_hooks])
    for name in ("mistral/mistral-large-latest", "groq/llama-3.3-70b", "some-bare-model"):
        resolved = registry.resolve(name)
        assert resolved.route.provider == "litellm"
        assert resolved.api_model == name
        assert resolved.route.key_env is None  # litellm reads each provider's key itself
    assert min(route.priority for route in _hooks.llmp_routes()) == CATCH_ALL_PRIORITY < 0


def test_every_other_route_wins_over_the_catch_all() -> None:
    registry = llmp.Registry(load_entry_points=False, plugins=[_hooks, OtherPlugin()])
    assert registry.resolve("mistral/mistral-large-latest").route.provider == "mistral"
    # Even another plugin's own "*" beats ours: ours is the lowest priority there is.
    assert registry.resolve("groq/llama-3.3-70b").route.provider == "other-catch-all"
    assert registry.resolve("anthropic/claude-haiku-4-5").route.provider == "anthropic"


def test_catch_all_over_the_wire(fake_openai: FakeOpenAIServer) -> None:
    """The catch-all over the wire: litellm's own OpenAI provider, against the fake OpenAI server."""
    registry = llmp.Registry(load_entry_points=False, plugins=[_hooks])
    llm = llmp.LLM("openai/gpt-4o-mini", registry=registry, base_url=fake_openai.base_url, cache=False)
    assert llm.provider == "litellm"
    assert llm.chat("over the wire") == "Echo: over the wire"
    assert "".join(llm.stream("over the wire")) == "Echo: over the wire"
    assert fake_openai.requests[-1].body["model"] == "gpt-4o-mini"
    cost = llm.total_cost  # priced from litellm's map
    assert cost is not None
    assert cost > 0
