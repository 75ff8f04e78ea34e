"""The fake Gemini server itself, driven by the raw google-genai SDK and by raw httpx2 over TLS.

These pin the wire format to the SDK's own types (site-packages is the ground truth), so the
plugin's tests run against what google-genai really sends and parses.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from llmp.testing import EmptyAnswer, StatusError, malformed_chunk, reset_mid_stream
from llmp.testing._conformance import PNG
from llmp_gemini.testing import FakeGeminiServer
from llmp_gemini.testing._gemini_wire import format_retry_delay

PATH = "/v1beta/models/gemini-3-flash-preview:generateContent"


@asynccontextmanager
async def sdk(server: FakeGeminiServer, *, api_key: str | None = None) -> AsyncIterator[genai.Client]:
    # Created inside the test, after the fixture set SSL_CERT_FILE: httpx2 reads it at creation.
    async with httpx2.AsyncClient(http2=True) as http:
        options = types.HttpOptions(
            base_url=server.base_url,
            httpx_async_client=http,
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        yield genai.Client(api_key=api_key or server.api_key, http_options=options)


async def post(
    server: FakeGeminiServer, body: Any, *, path: str = PATH, http2: bool = True, **kw: Any
) -> Any:
    async with httpx2.AsyncClient(http2=http2) as http:
        headers = kw.pop("headers", {"x-goog-api-key": server.api_key})
        return await http.post(server.base_url + path, json=body, headers=headers, **kw)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "parts": [{"text": text}]}]


async def test_generate_content_is_a_valid_sdk_response(fake_gemini: FakeGeminiServer) -> None:
    fake_gemini.cached_tokens = 1
    fake_gemini.thoughts_tokens = 4
    async with sdk(fake_gemini) as client:
        response = await client.aio.models.generate_content(
            model="gemini-3-flash-preview",
            contents="hello big world",
            config=types.GenerateContentConfig(candidate_count=2, system_instruction="sys prompt"),
        )
    assert [c.content.parts[0].text for c in response.candidates or [] if c.content and c.content.parts] == [
        "Echo: hello big world",
        "Echo: hello big world [1]",
    ]
    first = (response.candidates or [])[0]
    assert first.finish_reason == types.FinishReason.STOP
    assert first.content is not None
    assert first.content.role == "model"
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count == 5  # three words plus the two of the system instruction
    assert usage.candidates_token_count == 4 + 5
    assert usage.thoughts_token_count == 4
    assert usage.cached_content_token_count == 1
    assert usage.total_token_count == 5 + 9 + 4
    assert response.model_version == "gemini-3-flash-preview"
    assert response.response_id
    record = fake_gemini.requests[-1]
    assert record.http_version == "2"
    assert record.model == "gemini-3-flash-preview"
    assert not record.stream


async def test_stream_is_sse_the_sdk_reads(fake_gemini: FakeGeminiServer) -> None:
    async with sdk(fake_gemini) as client:
        events = await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="one two three"
        )
        chunks = [chunk async for chunk in events]
    assert "".join(c.text or "" for c in chunks) == "Echo: one two three"
    assert len(chunks) == 4  # one event per word
    assert [c.candidates[0].finish_reason for c in chunks if c.candidates][-1] == types.FinishReason.STOP
    usage = [c.usage_metadata for c in chunks]
    assert [u.candidates_token_count for u in usage if u] == [1, 2, 3, 4]  # running totals
    record = fake_gemini.requests[-1]
    assert (record.stream, record.query) == (True, "alt=sse")
    raw = await post(fake_gemini, {"contents": user("a b")}, path=record.path + "?alt=sse")
    assert raw.headers["content-type"] == "text/event-stream"
    assert raw.content.startswith(b"data: {")
    assert raw.content.endswith(b"}\r\n\r\n")


async def test_budgets_stop_sequences_and_thinking(fake_gemini: FakeGeminiServer) -> None:
    fake_gemini.thoughts_tokens = 3
    config = {"maxOutputTokens": 5, "stopSequences": ["three"]}
    data = (
        await post(fake_gemini, {"contents": user("one two three four"), "generationConfig": config})
    ).json()
    candidate = data["candidates"][0]
    assert [p["text"] for p in candidate["content"]["parts"]] == ["Echo: one"]  # 5 - 3 thoughts = 2 words
    assert candidate["finishReason"] == "MAX_TOKENS"
    config = {"maxOutputTokens": 2, "thinkingConfig": {"thinking_budget": 512}}
    data = (await post(fake_gemini, {"contents": user("x"), "generationConfig": config})).json()
    # The whole budget went to thinking: a content with a role and no parts, as Gemini sends it.
    assert data["candidates"][0] == {"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}
    assert data["usageMetadata"]["thoughtsTokenCount"] == 3
    off = {"thinkingConfig": {"thinkingBudget": 0}}
    data = (await post(fake_gemini, {"contents": user("x"), "generationConfig": off})).json()
    assert "thoughtsTokenCount" not in data["usageMetadata"]
    both = {"thinkingConfig": {"thinkingBudget": 0, "thinking_level": "LOW"}}
    refused = await post(fake_gemini, {"contents": user("x"), "generationConfig": both})
    assert refused.status_code == 400
    assert refused.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_status_error_renders_googles_shape_with_retry_info(fake_gemini: FakeGeminiServer) -> None:
    fake_gemini.inject(StatusError(429, retry_after=7))
    async with sdk(fake_gemini) as client:
        with pytest.raises(genai_errors.ClientError) as info:
            await client.aio.models.generate_content(model="gemini-3-flash-preview", contents="x")
    error = info.value
    assert (error.code, error.status) == (429, "RESOURCE_EXHAUSTED")
    assert "quota" in (error.message or "")
    details = error.details["error"]["details"]
    retry = [d for d in details if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo"]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]
    assert format_retry_delay(0.01) == "0.01s"
    fake_gemini.inject(StatusError(503, message="busy", headers={"retry-after": "3"}))
    response = await post(fake_gemini, {"contents": user("x")})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert response.json() == {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}


async def test_keys_are_checked_like_google_does(fake_gemini: FakeGeminiServer) -> None:
    async with sdk(fake_gemini, api_key="AIzaNotTheKey") as client:
        with pytest.raises(genai_errors.ClientError) as info:
            await client.aio.models.generate_content(model="gemini-3-flash-preview", contents="x")
    assert info.value.code == 400
    assert info.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert "AIzaNotTheKey" not in json.dumps(info.value.details)
    missing = await post(fake_gemini, {"contents": user("x")}, headers={})
    assert (missing.status_code, missing.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    by_query = await post(
        fake_gemini, {"contents": user("x")}, headers={}, params={"key": fake_gemini.api_key}
    )
    assert by_query.status_code == 200


async def test_http1_bad_paths_and_bad_bodies(fake_gemini: FakeGeminiServer) -> None:
    ok = await post(fake_gemini, {"contents": user("x")}, http2=False)
    assert ok.status_code == 200
    assert fake_gemini.requests[-1].http_version == "1.1"
    assert (await post(fake_gemini, {"contents": user("x")}, path="/v1/models/m:embed")).status_code == 404
    assert (await post(fake_gemini, {"contents": []})).status_code == 400
    too_many = {"contents": user("x"), "generationConfig": {"candidateCount": 9}}
    assert (await post(fake_gemini, too_many)).status_code == 400
    no_sse = await post(
        fake_gemini, {"contents": user("x")}, path=PATH.replace(":generate", ":streamGenerate")
    )
    assert no_sse.status_code == 400


async def stream_text(client: genai.Client, into: list[str]) -> None:
    """Append each streamed text to ``into`` so a test can see what arrived before a failure."""
    events = await client.aio.models.generate_content_stream(model="m", contents="one two three")
    async for chunk in events:
        into.append(chunk.text or "")


async def test_stream_faults_reach_the_sdk(fake_gemini: FakeGeminiServer) -> None:
    got: list[str] = []
    async with sdk(fake_gemini) as client:
        fake_gemini.inject(malformed_chunk(after_chunks=1))
        with pytest.raises(genai_errors.UnknownApiResponseError):
            await stream_text(client, got)
        assert got == ["Echo:"]  # the good event first, then the broken one fails the stream
        fake_gemini.inject(reset_mid_stream(after_chunks=1))
        got.clear()
        with pytest.raises(httpx2.TransportError):
            await stream_text(client, got)
        assert got in ([], ["Echo:"])  # how much arrived before the reset depends on buffering


def test_reset_restores_knobs_and_forgets(fake_gemini_server: FakeGeminiServer) -> None:
    server = fake_gemini_server
    server.empty_text = True
    server.inject(StatusError(500), times=None)
    server.reset()
    assert server.empty_text is False
    assert server.pending_faults == []
    assert server.requests == []
    assert server.request_count == 0


# ----- rich answers, as the SDK reads them -----

WEATHER = types.FunctionDeclaration(
    name="weather",
    description="The weather in a city.",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
TIME = types.FunctionDeclaration(
    name="time", parameters_json_schema={"type": "object", "properties": {"zone": {"type": "string"}}}
)
TOOLS = [types.Tool(function_declarations=[WEATHER, TIME])]
THINKING = types.ThinkingConfig(thinking_level="LOW", include_thoughts=True)


async def test_function_calls_thoughts_and_signatures_are_what_the_sdk_reads(
    fake_gemini: FakeGeminiServer,
) -> None:
    config = types.GenerateContentConfig(tools=TOOLS, thinking_config=THINKING)
    async with sdk(fake_gemini) as client:
        response = await client.aio.models.generate_content(
            model="gemini-3-flash-preview", contents="parallel: weather and time", config=config
        )
        chunks = [
            chunk
            async for chunk in await client.aio.models.generate_content_stream(
                model="gemini-3-flash-preview", contents="weather please", config=config
            )
        ]
    assert [(c.name, c.args) for c in response.function_calls or []] == [
        ("weather", {"city": "city"}),
        ("time", {"zone": "zone"}),
    ]
    parts = response.candidates[0].content.parts  # type: ignore[index, union-attr]
    assert parts[0].thought
    assert parts[0].text == "Thinking about parallel: weather and time."
    assert parts[1].thought_signature, "the first call of the step is signed"
    assert parts[2].thought_signature is None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    assert response.usage_metadata.thoughts_token_count > 0  # type: ignore[union-attr, operator]
    thoughts = [p.text for c in chunks for p in c.candidates[0].content.parts if p.thought]  # type: ignore[index, union-attr]
    assert thoughts == ["Thinking about weather please."]
    calls = [c.function_calls for c in chunks if c.function_calls]
    assert [[(f.name, f.args) for f in fs] for fs in calls] == [[("weather", {"city": "city"})]]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]


def _turns(signature: bytes | None) -> list[types.Content]:
    call = types.Part(
        function_call=types.FunctionCall(name="weather", args={"city": "city"}), thought_signature=signature
    )
    return [
        types.Content(role="user", parts=[types.Part(text="weather please")]),
        types.Content(role="model", parts=[call]),
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="weather", response={"result": "sunny"})],
        ),
    ]


@pytest.mark.parametrize("model", ["gemini-3-flash-preview", "gemini-3-pro-preview"])
async def test_gemini_3_refuses_a_function_call_turn_without_its_signature(
    fake_gemini: FakeGeminiServer, model: str
) -> None:
    config = types.GenerateContentConfig(tools=TOOLS)
    async with sdk(fake_gemini) as client:
        first = await client.aio.models.generate_content(
            model=model, contents="weather please", config=config
        )
        issued = first.candidates[0].content.parts[0].thought_signature  # type: ignore[index, union-attr]
        assert issued
        answer = await client.aio.models.generate_content(model=model, contents=_turns(issued), config=config)
        assert answer.text == "The tool said: sunny"
        for bad in (None, b"forged"):
            with pytest.raises(genai_errors.ClientError) as info:
                await client.aio.models.generate_content(model=model, contents=_turns(bad), config=config)
            assert info.value.code == 400
            assert "thought_signature" in (info.value.message or "") or "not valid" in (
                info.value.message or ""
            )
        # Gemini 2.5 takes the same turn unsigned, as the real API does.
        older = await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents=_turns(None), config=config
        )
        assert older.text == "The tool said: sunny"


async def test_function_turns_must_pair_up(fake_gemini: FakeGeminiServer) -> None:
    turns = _turns(None)
    turns[2].parts = turns[2].parts * 2  # type: ignore[operator]
    async with sdk(fake_gemini) as client:
        with pytest.raises(genai_errors.ClientError, match="number of function response parts"):
            await client.aio.models.generate_content(
                model="gemini-2.5-flash", contents=turns, config={"tools": TOOLS}
            )
        with pytest.raises(genai_errors.ClientError, match="immediately after a function call turn"):
            await client.aio.models.generate_content(model="gemini-2.5-flash", contents=[turns[0], turns[2]])


async def test_tool_config_modes(fake_gemini: FakeGeminiServer) -> None:
    def config(mode: str, names: list[str] | None = None) -> types.GenerateContentConfig:
        calling = types.FunctionCallingConfig(mode=mode, allowed_function_names=names)  # type: ignore[arg-type]
        return types.GenerateContentConfig(
            tools=TOOLS, tool_config=types.ToolConfig(function_calling_config=calling)
        )

    async with sdk(fake_gemini) as client:
        none = await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents="hi", config=config("NONE")
        )
        assert none.text == "Echo: hi"
        forced = await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents="hi", config=config("ANY", ["time"])
        )
        assert [c.name for c in forced.function_calls or []] == ["time"]
        with pytest.raises(genai_errors.ClientError, match="only when the mode is ANY"):
            await client.aio.models.generate_content(
                model="gemini-2.5-flash", contents="hi", config=config("AUTO", ["time"])
            )


async def test_response_json_schema_is_honoured(fake_gemini: FakeGeminiServer) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}}
    async with sdk(fake_gemini) as client:
        config = types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=schema
        )
        response = await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents="x", config=config
        )
        assert json.loads(response.text or "") == {"name": "name", "size": 1}
    refused = await post(
        fake_gemini, {"contents": user("x"), "generationConfig": {"responseJsonSchema": schema}}
    )
    assert refused.status_code == 400


async def test_inline_data_is_checked_like_the_api_does(fake_gemini: FakeGeminiServer) -> None:
    async with sdk(fake_gemini) as client:
        good = types.Part.from_bytes(data=PNG, mime_type="image/png")
        response = await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents=["what is it?", good]
        )
        assert response.text == "Echo: what is it? [saw 1 image(s)]"
        by_url = types.Part.from_uri(file_uri="https://example.com/cat.png", mime_type="image/png")
        response = await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents=["and this?", by_url]
        )
        assert response.text == "Echo: and this? [saw 1 image(s)]"
        for part, message in [
            (
                types.Part.from_bytes(data=b"GIF89a", mime_type="image/gif"),
                "Unsupported MIME type: image/gif",
            ),
            (
                types.Part.from_bytes(data=b"not a png", mime_type="image/png"),
                "Unable to process input image",
            ),
        ]:
            with pytest.raises(genai_errors.ClientError, match=message):
                await client.aio.models.generate_content(model="gemini-2.5-flash", contents=["x", part])
    bad = {
        "contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "@@@"}}]}]
    }
    assert (await post(fake_gemini, bad)).status_code == 400


@pytest.mark.parametrize(
    ("fault", "candidates", "parts"),
    [
        (EmptyAnswer("empty"), 1, [{"text": ""}]),
        (EmptyAnswer("null"), 1, None),
        (EmptyAnswer("no_choices"), 0, None),
        (EmptyAnswer("no_choices", finish="content_filter"), 0, None),
        (EmptyAnswer("empty", finish="length"), 1, [{"text": ""}]),
    ],
)
async def test_empty_answers_in_gemini_shapes(
    fake_gemini: FakeGeminiServer, fault: EmptyAnswer, candidates: int, parts: Any
) -> None:
    for stream in (False, True):
        fake_gemini.inject(fault)
        path = PATH.replace(":generate", ":streamGenerate") + "?alt=sse" if stream else PATH
        raw = await post(fake_gemini, {"contents": user("x")}, path=path)
        assert raw.status_code == 200
        bodies = [line[6:] for line in raw.text.split("\r\n\r\n") if line] if stream else [raw.text]
        (body,) = bodies
        response = types.GenerateContentResponse.model_validate_json(body)
        assert len(response.candidates or []) == candidates
        assert response.usage_metadata is not None
        assert response.usage_metadata.prompt_token_count == 1
        data = json.loads(body)
        if candidates:
            assert data["candidates"][0]["content"].get("parts") == parts
            expected = "MAX_TOKENS" if fault.finish == "length" else "STOP"
            assert data["candidates"][0]["finishReason"] == expected
        blocked = response.prompt_feedback.block_reason if response.prompt_feedback else None
        assert blocked == (types.BlockedReason.SAFETY if fault.finish == "content_filter" else None)
    fake_gemini.inject(EmptyAnswer("done_only"))
    silent = await post(
        fake_gemini, {"contents": user("x")}, path=PATH.replace(":generate", ":streamGenerate") + "?alt=sse"
    )
    assert (silent.status_code, silent.content) == (200, b""), "a stream without a single event"


def test_max_candidates_answers_fewer(fake_gemini: FakeGeminiServer) -> None:
    fake_gemini.max_candidates = 1
    data = httpx2.post(
        fake_gemini.base_url + PATH,
        json={"contents": user("x"), "generationConfig": {"candidateCount": 3}},
        headers={"x-goog-api-key": fake_gemini.api_key},
        verify=str(fake_gemini.ca_path),
    ).json()
    assert len(data["candidates"]) == 1
    assert data["usageMetadata"]["candidatesTokenCount"] == 2
