"""llmp-litellm passes the provider conformance suite, through the real litellm against the fake
Anthropic Messages server."""

from typing import Any

import pytest

from llmp.testing import ProviderConformance
from llmp_litellm import _hooks
from llmp_litellm.testing import FakeAnthropicServer


class TestAnthropicConformance(ProviderConformance):
    plugin = _hooks
    provider = "anthropic"
    model = "anthropic/claude-sonnet-4-6"
    sdk_modules = ("litellm",)

    @pytest.fixture
    def server(self, fake_anthropic: FakeAnthropicServer) -> Any:
        # The fixture sets ANTHROPIC_BASE_URL, which the route reads: no make_llm override needed.
        return fake_anthropic
