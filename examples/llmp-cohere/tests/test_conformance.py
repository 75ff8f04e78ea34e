"""llmp's conformance suite for provider plugins, run against the fake Cohere server."""

from __future__ import annotations

from typing import Any

import pytest
from llmp.testing import ProviderConformance

from llmp_cohere import _hooks
from llmp_cohere.testing import FakeCohereServer


# --8<-- [start:conformance]
class TestCohereConformance(ProviderConformance):
    plugin = _hooks
    provider = "cohere"
    model = "cohere/command-a-03-2025"
    sdk_modules = ("httpx2",)  # route discovery must not import the transport
    # Cohere has no batch price for chat, so the conformance's batch price check does not apply.
    priced = True

    @pytest.fixture
    def server(self, fake_cohere: FakeCohereServer) -> Any:
        return fake_cohere


# --8<-- [end:conformance]
