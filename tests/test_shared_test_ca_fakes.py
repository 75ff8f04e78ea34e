"""One test CA for the fakes of every provider: in this process and in every ``python -m
llmp.testing.serve`` started with the same CA directory, so one ``SSL_CERT_FILE`` trusts them all."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from llmp.testing import serve
from llmp.testing._tls import CA_DIR_ENV
from llmp_gemini.testing import FakeGeminiServer


def test_spawned_fakes_of_two_providers_and_an_in_process_one_share_one_ca_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_dir = tmp_path / "ca"
    monkeypatch.setenv(CA_DIR_ENV, str(ca_dir))  # for the in-process fake
    with (
        serve.spawn("openai", ca_dir=ca_dir) as openai,
        serve.spawn("anthropic", ca_dir=ca_dir) as anthropic,
        FakeGeminiServer() as gemini,
    ):
        assert openai.ca_path == anthropic.ca_path == gemini.ca_path == ca_dir / "ca.pem"
        monkeypatch.setenv("SSL_CERT_FILE", str(openai.ca_path))
        # One client, the standard trust setting, every server; HTTP/2 negotiated on each.
        with httpx2.Client(http2=True) as client:
            for origin in (openai.base_url.removesuffix("/v1"), anthropic.base_url):
                response = client.get(f"{origin}/_fake/stats")
                assert response.status_code == 200, origin
                assert response.http_version == "HTTP/2"
            response = client.post(
                f"{gemini.base_url}/v1beta/models/gemini-2.5-flash:generateContent",
                headers={"x-goog-api-key": gemini.api_key},
                json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            )
            assert response.status_code == 200, response.text
            assert response.http_version == "HTTP/2"
