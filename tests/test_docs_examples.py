"""The docs' Python examples run, and show what llmp really returns.

Each page below is run like a notebook, in one namespace: its ```python blocks are executed in
order, and its ```pycon blocks are doctests in that namespace, so every result a page shows
(a value, a printed line, an exception and its message) is checked. Blocks that include code
from the example plugin (``--8<--``) are that plugin's tested sources and are skipped here.

The model names the pages use (``gpt-4.1-mini``, ``gemini/...``) are routed to one
`llmp.testing.FunctionClient` answering as `docs_model` does: a small deterministic stand-in for
a provider, so the examples run without a network or a key. Everything between the examples and
that function is the real llmp: routing, the cache, retries, the answer rules, the tool loop,
validation, streaming, batches.
"""

from __future__ import annotations

import ast
import doctest
import json
import re
import struct
import types
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmp
import llmp._plugins
from llmp.testing import FunctionClient, example_for_schema
from llmp.types import Choice, Cost, PriceMode, Request, Route, ToolCall, Usage

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: The pages whose examples run; every page written as a tutorial belongs here.
PAGES = [
    "index.md",
    "quickstart.md",
    "guide.md",
    "tools.md",
    "structured-output.md",
    "errors.md",
    "testing.md",
    "writing-plugins.md",
]
_FENCE = re.compile(r"^```(\w*)\s*$")

# -- what the docs' stand-in model answers ----------------------------------------------------

TEXTS = {
    "What is 2+2?": "4",
    "Name a color.": "Blue",
    "Say hello in French.": "Bonjour !",
    "Tell me a story": "Once upon a time, a cache saved the day.",
    "Capital of France?": "Paris",
    "And of Japan?": "Tokyo",
    "Is 1001 prime?": "No: 1001 = 7 x 11 x 13.",
    "What is 3+3?": "6",
}
SAMPLES = {"Name a fruit.": ["Apple", "Mango", "Pear"]}
THOUGHTS = {"Is 1001 prime?": "1001 = 7 x 143 = 7 x 11 x 13."}
REFUSED = {"How do I pick my neighbour's lock?": "I can't help with that."}
# What the model knows about cities, for structured output; it forgets Atlantis's details.
CITIES: dict[str, dict[str, Any]] = {
    "Paris": {"name": "Paris", "country": "France", "population": 2_100_000},
    "Tokyo": {"name": "Tokyo", "country": "Japan", "population": 14_000_000},
    "Lima": {"name": "Lima", "country": "Peru", "population": 10_000_000},
    "Atlantis": {"name": "Atlantis"},
}


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or () if p.get("type") == "text")


def _images(message: dict[str, Any]) -> int:
    content = message.get("content")
    return sum(1 for p in content if p.get("type") == "image_url") if isinstance(content, list) else 0


def _tool_calls(request: Request, prompt: str) -> Choice:
    tools = {tool.name: tool for tool in request.tools}
    name = request.tool_choice if request.tool_choice in tools else next(iter(tools))
    parameters = tools[name].parameters
    cities = [city for city in CITIES if city in prompt]
    if "city" in parameters.get("properties", {}) and cities:
        arguments = [{"city": city} for city in cities]
    else:
        arguments = [example_for_schema(parameters)]
    calls = [ToolCall(f"call_{i + 1}", name, json.dumps(args)) for i, args in enumerate(arguments)]
    return Choice(tool_calls=calls, finish_reason="tool_calls")


def _after_tools(request: Request) -> str:
    """Answers with each tool result, naming the city the call asked about."""
    asked = {
        call["id"]: json.loads(call["function"]["arguments"]).get("city")
        for message in request.messages
        for call in message.get("tool_calls") or ()
    }
    tail = []
    for message in reversed(request.messages):
        if message["role"] != "tool":
            break
        tail.insert(0, message)
    if all(asked.get(m["tool_call_id"]) for m in tail):
        return " ".join(f"In {asked[m['tool_call_id']]}: {m['content']}." for m in tail)
    return "The tool said " + "; ".join(str(m["content"]) for m in tail) + "."


def docs_model(request: Request) -> Any:
    last = request.messages[-1]
    users = [m for m in request.messages if m["role"] == "user"]
    prompt = _text_of(users[-1]) if users else ""
    thinking = request.reasoning is not None and request.reasoning.enabled
    reasoning = (THOUGHTS.get(prompt) or f"Thinking about {prompt}") if thinking else None
    if prompt in REFUSED:
        return Choice(refusal=REFUSED[prompt], finish_reason="content_filter")
    if thinking and request.params.get("max_tokens", 1000) < 50:
        return Choice(reasoning=reasoning, finish_reason="length")  # thinking spent the budget
    if last["role"] == "tool":
        return Choice(_after_tools(request), finish_reason="stop")
    if request.tools and request.tool_choice != "none":
        return _tool_calls(request, prompt)
    if request.output_schema is not None:
        schema = request.output_schema.schema
        city = next((CITIES[c] for c in CITIES if c in prompt), None)
        if city is None:
            return json.dumps(example_for_schema(schema, prompt))
        return json.dumps({k: city[k] for k in schema.get("properties", {}) if k in city})
    if _images(last):
        return Choice("A single red pixel.", finish_reason="stop")
    texts = SAMPLES.get(prompt) or [TEXTS.get(prompt, f"Echo: {prompt}")] * request.n
    return [Choice(text, reasoning=reasoning, finish_reason="stop") for text in texts[: request.n]]


def _price(model: str, usage: Usage, mode: PriceMode) -> Cost:
    """A made-up price: $0.40 per million input tokens, $1.60 per million output tokens."""
    factor = 0.5 if mode == "batch" else 1.0
    return Cost(usage.input_tokens * 0.4e-6 * factor, 0.0, usage.output_tokens * 1.6e-6 * factor)


def docs_registry(client: FunctionClient) -> llmp.Registry:
    """Routes the provider model names the pages use to `client`, as their plugins would."""
    rows = [
        ("gpt-*", "openai"),
        ("o4*", "openai"),
        ("gemini/*", "gemini"),
        ("anthropic/*", "anthropic"),
        ("together_ai/*", "together"),
        ("local/*", "local"),
    ]

    @llmp.hookimpl
    def llmp_routes() -> list[Route]:
        return [Route(pattern, provider, api="docs") for pattern, provider in rows]

    @llmp.hookimpl
    def llmp_apis() -> dict[str, Any]:
        return {"docs": lambda settings: client}

    @llmp.hookimpl
    def llmp_price(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost:
        return _price(model, usage, mode)

    plugin = types.SimpleNamespace(
        __name__="docs-model", llmp_routes=llmp_routes, llmp_apis=llmp_apis, llmp_price=llmp_price
    )
    return llmp.Registry(load_entry_points=False, plugins=[plugin])


def _red_pixel_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


# -- reading the pages -------------------------------------------------------------------------


def blocks(text: str) -> Iterator[tuple[str, int, str]]:
    """``(language, first line number, source)`` of every fenced block of a page."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None or not match.group(1):
            i += 1
            continue
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        yield match.group(1), start + 1, "\n".join(lines[start:end]) + "\n"
        i = end + 1


def runnable(path: Path) -> list[tuple[str, int, str]]:
    return [
        (lang, line, source)
        for lang, line, source in blocks(path.read_text())
        if lang in ("python", "pycon") and "--8<--" not in source
    ]


@pytest.fixture
def docs_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FunctionClient:
    """The provider models behind the pages, a private cache, and the files the pages read."""
    client = FunctionClient(docs_model)
    # `llmp.LLM("gpt-4.1-mini")` in a page uses the process-wide registry: make it this one.
    monkeypatch.setattr(llmp._plugins, "_default", docs_registry(client))
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LLMP_CACHE_URL", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "photo.png").write_bytes(_red_pixel_png())
    return client


def run_page(path: Path) -> None:
    """Run a page's examples in one namespace; AssertionError with doctest's report on a mismatch."""
    name = path.name
    namespace: dict[str, Any] = {"__name__": "docs_" + re.sub(r"\W", "_", path.stem)}
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    parser = doctest.DocTestParser()
    for lang, line, source in runnable(path):
        if lang == "python":
            # Padded so that a traceback names the page's own line numbers.
            exec(compile("\n" * (line - 1) + source, f"docs/{name}", "exec"), namespace)
            continue
        test = parser.get_doctest(source, namespace, f"docs/{name}:{line}", f"docs/{name}", line - 1)
        report: list[str] = []
        runner = doctest.DocTestRunner(optionflags=flags)
        runner.run(test, out=report.append, clear_globs=False)
        assert runner.failures == 0, "".join(report)
        namespace.update(test.globs)  # a DocTest runs in a copy: keep what it defined


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run_and_show_true_results(page: str, docs_env: FunctionClient) -> None:
    path = DOCS / page
    assert runnable(path), f"docs/{page} has no Python example to run"
    run_page(path)


def test_a_page_showing_a_wrong_result_fails(tmp_path: Path, docs_env: FunctionClient) -> None:
    page = tmp_path / "wrong.md"
    page.write_text(
        "```python\nimport llmp\n```\n\n"
        '```pycon\n>>> llmp.LLM("gpt-4.1-mini").chat("What is 2+2?")\n\'5\'\n```\n'
    )
    with pytest.raises(AssertionError, match=r"Expected:\s+'5'\s+Got:\s+'4'"):
        run_page(page)


def test_readme_use_section_is_valid_python() -> None:
    """The README's examples are fragments (undefined `prompts`, top-level await): they must at
    least parse."""
    readme = (ROOT / "README.md").read_text()
    sources = [source for lang, _, source in blocks(readme) if lang == "python"]
    assert sources
    for source in sources:
        compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
