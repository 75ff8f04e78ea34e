"""A call in a fresh interpreter imports no openai SDK (issue 14 item 26: it was most of a cold start).

Each test runs a real child process against the fake OpenAI server; what it checks is the
child's ``sys.modules`` after the calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmp_openai.testing import FakeOpenAIServer

CHILD = r"""
import json, sys
import llmp

llm = llmp.LLM("gpt-4.1-mini", cache=False)
assert llm.chat("hi") == "Echo: hi"
assert "".join(llm.stream("hi")) == "Echo: hi"
assert llm.generate(["a", "b"]) == [["Echo: a"], ["Echo: b"]]
assert [len(v) for v in llmp.LLM("text-embedding-3-small", cache=False).embed(["x"], dimensions=8)] == [8]
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("openai", "pydantic"))))
"""
BATCH_CHILD = r"""
import json, sys
import llmp

batch_id = llmp.LLM("gpt-4.1-mini").batch_submit(["hi"])
print(json.dumps(["openai" in sys.modules]))
"""


def run_child(code: str) -> list[object]:
    # The fixture pointed this process's environment at the fake server; the child inherits it.
    env = {k: v for k, v in os.environ.items() if k != "LLMP_PLUGINS"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result: list[object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_chat_stream_generate_and_embed_import_no_openai_sdk(fake_openai: FakeOpenAIServer) -> None:
    assert run_child(CHILD) == []
    assert fake_openai.request_count == 5  # every call reached the server (generate sent two)


def test_the_batch_api_still_runs_on_the_sdk(fake_openai: FakeOpenAIServer) -> None:
    # The control: the SDK is still there, imported where it is really used.
    assert run_child(BATCH_CHILD) == [True]
