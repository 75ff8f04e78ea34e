"""llmp-openai builds its requests without the openai SDK: URL and headers must still be the ones
the SDK builds for ``chat.completions.create`` and ``embeddings.create``, under every setting the
SDK reads from the environment. The SDK is the reference here, asked to build the same request."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import openai
import pytest
from openai._models import FinalRequestOptions

from llmp.types import ClientSettings
from llmp_openai._client import CHAT, EMBEDDINGS, OpenAIClient

ENV = ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_CUSTOM_HEADERS")


async def sdk_request(base_url: str | None, key: str, path: str) -> tuple[str, list[tuple[str, str]]]:
    """URL and headers of the POST the SDK sends to `path` (what ``create`` passes: bearer auth)."""
    async with httpx2.AsyncClient(http2=True, timeout=httpx2.Timeout(600.0, connect=15.0)) as http:
        sdk = openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, http_client=http)
        options = FinalRequestOptions.construct(
            method="post", url=path, json_data={}, security={"bearer_auth": True}
        )
        options = await sdk._prepare_options(options)
        request = sdk._build_request(options)
        await sdk._prepare_request(request)
    return str(request.url), [(k, v) for k, v in request.headers.items() if k != "content-length"]


async def our_request(base_url: str | None, key: str, path: str) -> tuple[str, list[tuple[str, str]], Any]:
    client = OpenAIClient(ClientSettings("openai", "openai", base_url, key))
    try:
        endpoint = client._endpoint(path)
        return str(endpoint.url), list(endpoint.headers.items()), endpoint.extensions
    finally:
        await client.aclose()


@pytest.mark.parametrize("path", [CHAT, EMBEDDINGS])
@pytest.mark.parametrize(
    ("base_url", "env"),
    [
        ("https://api.openai.com/v1", {}),
        ("http://localhost:8000/v1/", {}),  # a trailing slash is not doubled
        ("https://gateway.example/openai/v1", {"OPENAI_ORG_ID": "org-1", "OPENAI_PROJECT_ID": "proj-1"}),
        (None, {"OPENAI_BASE_URL": "https://env.example/v1"}),  # no base URL: the SDK's variable
        (None, {}),  # nor that: OpenAI's own
        (
            "https://api.openai.com/v1",
            # Custom headers go over the SDK's own, Authorization included, as the SDK does it.
            {"OPENAI_CUSTOM_HEADERS": "X-Team: search\nUser-Agent: mine/1\nAuthorization: Bearer from-env"},
        ),
    ],
)
def test_the_request_is_the_one_the_sdk_builds(
    path: str, base_url: str | None, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    key = "sk-test-" + "k" * 20
    expected_url, expected_headers = asyncio.run(sdk_request(base_url, key, path))
    url, headers, extensions = asyncio.run(our_request(base_url, key, path))
    assert url == expected_url
    assert headers == expected_headers  # names, values and order
    assert extensions["timeout"] == httpx2.Timeout(600.0, connect=15.0).as_dict()


def test_a_host_without_a_key_gets_the_placeholder_the_sdk_was_given() -> None:
    # The SDK refuses to start without a key, so llmp gave it one that keyless hosts ignore.
    _, headers, _ = asyncio.run(our_request("http://localhost:11434/v1", "", CHAT))
    assert ("authorization", "Bearer no-key-needed") in headers
