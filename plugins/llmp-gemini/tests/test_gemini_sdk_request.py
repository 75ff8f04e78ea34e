"""llmp-gemini builds its requests without google-genai: URL, headers and timeout must still be the
ones google-genai builds for ``models.generate_content[_stream]``, for every base URL shape, model
name, timeout and API-version setting. google-genai is the reference here, asked to build the
same request as the plugin once had it build each one."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import _transformers, types

from llmp.errors import ConfigurationError
from llmp.types import ClientSettings
from llmp_gemini._client import GeminiClient
from llmp_gemini._sdk_request import split_base_url

BASE_URLS = [
    None,  # Google's
    "https://generativelanguage.googleapis.com",
    "https://proxy.example/gemini/v1beta/",  # the base URL names the version
    "http://localhost:9000/x/v1alpha2",
    "https://proxy.example/api/",  # a path, no version
]


def sdk_request(base_url: str | None, key: str, model: str, stream: bool, timeout: float | None) -> Any:
    """The request google-genai builds (what llmp-gemini had it build before it built its own)."""
    origin, version = split_base_url(base_url)
    options = types.HttpOptions(base_url=origin, api_version=version)
    api = genai.Client(api_key=key, vertexai=False, http_options=options)._api_client
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    http_options = {"timeout": math.ceil(timeout * 1000)} if timeout is not None else None
    built = api._build_request("post", f"{_transformers.t_model(api, model)}:{method}", {}, http_options)

    async def build() -> httpx2.Request:
        async with httpx2.AsyncClient(http2=True) as http:
            return http.build_request(
                "POST", built.url, headers=built.headers, timeout=built.timeout, content=b"{}"
            )

    return asyncio.run(build())


def our_template(base_url: str | None, key: str, model: str, stream: bool, timeout: float | None) -> Any:
    client = GeminiClient(ClientSettings("gemini", "gemini", base_url, key))
    try:
        return client._template(model, stream, timeout)
    finally:
        asyncio.run(client.aclose())


@pytest.mark.parametrize("base_url", BASE_URLS)
@pytest.mark.parametrize(
    ("model", "stream", "timeout"),
    [
        ("gemini-2.5-flash", False, 600.0),
        ("models/gemini-2.5-pro", True, 12.3),  # rounded up: X-Server-Timeout 13
        ("tunedModels/mine-1", False, None),  # no timeout at all
        ("gemini-2.5-flash", True, 0.0001),  # under a millisecond: one millisecond
    ],
)
def test_the_request_is_the_one_google_genai_builds(
    base_url: str | None, model: str, stream: bool, timeout: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_GENAI_API_VERSION", raising=False)
    key = " AIzaTest-" + "k" * 20 + "\n"  # google-genai strips the key
    expected = sdk_request(base_url, key, model, stream, timeout)
    ours = our_template(base_url, key, model, stream, timeout)
    assert str(ours.url) == str(expected.url)
    sent = [(k, v) for k, v in expected.headers.items() if k != "content-length"]
    assert list(ours.headers.items()) == sent
    assert ours.extensions == dict(expected.extensions)


@pytest.mark.parametrize("setting", ["v1beta", "beta", "v1alpha", ""])
def test_the_api_version_variable_is_read_as_google_genai_reads_it(
    setting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", setting)
    for base_url in (None, "https://proxy.example/v1beta"):  # a version in the base URL wins
        expected = sdk_request(base_url, "k", "gemini-2.5-flash", False, 60.0)
        assert str(our_template(base_url, "k", "gemini-2.5-flash", False, 60.0).url) == str(expected.url)


@pytest.mark.parametrize("model", ["", "../secrets", "gemini?alt=json", "a&b"])
def test_a_model_name_google_genai_refuses_is_a_configuration_error(model: str) -> None:
    with pytest.raises(ValueError, match="model"):  # google-genai's own refusal
        sdk_request(None, "k", model, False, None)
    with pytest.raises(ConfigurationError, match="model"):
        our_template(None, "k", model, False, None)
