"""llmp-gemini passes the provider conformance suite."""

from typing import Any

import pytest

from llmp.testing import FakeGeminiServer, ProviderConformance
from llmp_gemini import _hooks


class TestGeminiConformance(ProviderConformance):
    plugin = _hooks
    provider = "gemini"
    model = "gemini/gemini-3-flash-preview"
    sdk_modules = ("google.genai",)

    @pytest.fixture
    def server(self, fake_gemini: FakeGeminiServer) -> Any:
        return fake_gemini
