"""User code under ``mypy --strict`` needs no casts (issue 11 item 3, issue 14 item 8)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

USER_CODE = '''
from typing import Literal, assert_type

from pydantic import BaseModel

import llmp
from llmp.errors import LLMPError
from llmp.types import BatchStatus, Response, ToolCall


class City(BaseModel):
    name: str


def weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    """The weather."""
    return city


async def main(llm: llmp.LLM) -> None:
    texts = await llm.agenerate(["a"])
    assert_type(texts, list[list[str]])
    first: str = texts[0][0]
    cities = await llm.agenerate(["a"], response_format=City)
    assert_type(cities, list[list[City]])
    rich = await llm.agenerate(["a"], rich=True, tools=[weather])
    assert_type(rich, list[Response])
    print(first, cities[0][0].name, rich[0].tool_calls)
    async for index, item in llm.aiter_generate(["a"]):
        if not isinstance(item, LLMPError):
            print(index, item[0].upper())


def sync(llm: llmp.LLM) -> None:
    texts = llm.generate(["a"])
    assert_type(texts, list[list[str]])
    print(texts[0][0].upper())
    mixed = llm.generate(["a"], on_error="return")
    assert_type(mixed, list[list[str] | LLMPError])
    cities = llm.generate(["a"], response_format=City)
    print(cities[0][0].name)
    responses = llm.generate(["a"], rich=True)
    print(responses[0].usage.output_tokens)
    reply: str = llm.chat("hi")
    response = llm.complete("hi", tools=[weather], max_turns=3, reasoning="low")
    calls: list[ToolCall] = response.tool_calls
    for delta in llm.stream("hi"):
        print(delta.upper())
    events = llm.stream_events("hi")
    for chunk in events:
        print(chunk.text)
    final: Response = events.response
    status: BatchStatus = llm.batch_status("openai:1:b")
    retrieved = llm.batch_retrieve("openai:1:b")
    if retrieved is not None:
        print(retrieved[0][0].upper())
    structured = llm.batch(["a"], response_format=City)
    print(structured[0][0].name)
    by_model = llmp.multi_generate(["gpt-4.1-mini"], ["a"])
    assert_type(by_model, dict[str, list[list[str]]])
    print(reply, calls, final, status.done, llm.total_cost, llm.embed("x")[0][0])
    part = llmp.image(b"...")
    print(part["type"])
'''


def test_user_code_type_checks_under_strict_mypy(tmp_path: Path) -> None:
    script = tmp_path / "user_code.py"
    script.write_text(textwrap.dedent(USER_CODE))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / ".mypy"),
            str(script),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
