"""A Gemini call in a fresh interpreter imports no google-genai (issue 14 item 26: it was most of
a cold start). Each test runs a real child process against the fake Gemini server; what it
checks is the child's ``sys.modules`` after the calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmp_gemini.testing import FakeGeminiServer

CHILD = r"""
import json, sys
import llmp

llm = llmp.LLM("gemini/gemini-2.5-flash", cache=False)
assert llm.chat("hi") == "Echo: hi"
assert "".join(llm.stream("hi")) == "Echo: hi"
assert llm.generate(["a", "b"]) == [["Echo: a"], ["Echo: b"]]
print(json.dumps(sorted(name for name in sys.modules if name.startswith(("google.genai", "pydantic")))))
"""
BATCH_CHILD = r"""
import json, sys
import llmp

llmp.LLM("gemini/gemini-2.5-flash").batch_submit(["hi"])
print(json.dumps(["google.genai" in sys.modules]))
"""

KEY_HEADER_CHILD = r"""
import json, sys
import llmp

llm = llmp.LLM("gemini/gemini-2.5-flash", cache=False)  # registers the key: h2 is not loaded yet
assert "h2" not in sys.modules
assert llm.chat("hi") == "Echo: hi"
import h2.utilities
print(json.dumps([b"x-goog-api-key" in h2.utilities._SECURE_HEADERS]))
"""


def run_child(code: str) -> list[object]:
    # The fixture pointed this process's environment at the fake server; the child inherits it.
    env = {k: v for k, v in os.environ.items() if k != "LLMP_PLUGINS"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result: list[object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_chat_stream_and_generate_import_no_google_genai(fake_gemini: FakeGeminiServer) -> None:
    assert run_child(CHILD) == []
    assert len(fake_gemini.requests) == 4  # every call reached the server (generate sent two)


def test_the_batch_api_still_runs_on_google_genai(fake_gemini: FakeGeminiServer) -> None:
    # The control: google-genai is still there, imported where it is really used.
    assert run_child(BATCH_CHILD) == [True]


def test_the_key_header_is_never_indexed_whatever_was_imported_first(fake_gemini: FakeGeminiServer) -> None:
    # The key was registered before h2 was imported (LLM() comes first), so only the lanes the
    # client sends on can make HPACK send x-goog-api-key never-indexed, out of both ends'
    # compression tables, as llmp does for every credential header (llmp._secrets).
    assert run_child(KEY_HEADER_CHILD) == [True]
