"""llmp-gemini passes the provider conformance suite: on Gemini 3 (thinking levels, signed
function calls) and on Gemini 2.5 (thinking budgets), whose reasoning controls differ."""

from typing import Any

import pytest

from llmp.testing import ProviderConformance
from llmp_gemini import _hooks
from llmp_gemini.testing import FakeGeminiServer


class TestGeminiConformance(ProviderConformance):
    plugin = _hooks
    provider = "gemini"
    model = "gemini/gemini-3-flash-preview"
    sdk_modules = ("google.genai",)

    @pytest.fixture
    def server(self, fake_gemini: FakeGeminiServer) -> Any:
        return fake_gemini


class TestGemini25Conformance(TestGeminiConformance):
    model = "gemini/gemini-2.5-flash"
