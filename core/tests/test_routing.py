import pytest

from llmp._routing import RoutingTable
from llmp.errors import PluginError, UnknownModelError
from llmp.types import Route


def table(*routes: Route) -> RoutingTable:
    return RoutingTable(routes)


def test_exact_name_beats_any_pattern() -> None:
    t = table(Route("gpt-*", "openai", plugin="a"), Route("gpt-4.1", "special", plugin="b"))
    assert t.resolve("gpt-4.1").route.provider == "special"
    assert t.resolve("gpt-4.1-mini").route.provider == "openai"


def test_longest_pattern_wins_then_priority() -> None:
    t = table(
        Route("*", "litellm", priority=-100, plugin="l"),
        Route("gpt-*", "openai", plugin="o"),
        Route("gpt-4*", "fast", plugin="f"),
    )
    assert t.resolve("gpt-4.1").route.provider == "fast"
    assert t.resolve("gpt-3.5").route.provider == "openai"
    assert t.resolve("claude-x").route.provider == "litellm"
    t2 = table(Route("x/*", "low", priority=0, plugin="a"), Route("x/*", "high", priority=5, plugin="b"))
    assert t2.resolve("x/m").route.provider == "high"


def test_prefix_is_stripped_for_slash_star_patterns_only() -> None:
    t = table(Route("sambanova/*", "sambanova", plugin="p"), Route("gpt-*", "openai", plugin="p"))
    assert t.resolve("sambanova/Meta-Llama-3.3-70B").api_model == "Meta-Llama-3.3-70B"
    assert t.resolve("gpt-4.1-mini").api_model == "gpt-4.1-mini"


def test_same_pattern_same_priority_from_two_plugins_names_both() -> None:
    with pytest.raises(PluginError) as info:
        table(Route("gpt-*", "openai", plugin="llmp-openai"), Route("gpt-*", "other", plugin="llmp-other"))
    assert "llmp-openai" in str(info.value)
    assert "llmp-other" in str(info.value)


@pytest.mark.parametrize(
    ("model", "dist"),
    [
        ("gemini/gemini-3-flash-preview", "llmp-gemini"),
        ("together_ai/meta-llama/Llama-3", "llmp-together"),
        ("anthropic/claude-sonnet-4-6", "llmp-litellm"),
        ("mistral-large", "llmp-litellm"),
        ("gpt-4.1-mini", "llmp-openai"),
    ],
)
def test_unknown_model_names_the_plugin_to_install(model: str, dist: str) -> None:
    with pytest.raises(UnknownModelError) as info:
        table().resolve(model)
    assert f"pip install {dist}" in str(info.value)
    assert info.value.model == model
