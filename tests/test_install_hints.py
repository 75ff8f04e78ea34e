"""The "install its plugin" hint of an unrouted model names the plugin that really routes it.

The core cannot ask a plugin that is not installed which models it serves, so it keeps a table
of prefixes (`llmp._routing._INSTALL_HINTS`). Every first-party route pattern, as the installed
plugins declare it here, must be in that table, or a user missing llmp-openai who asks for
``groq/llama-3.3-70b`` would be told to install llmp-litellm.
"""

from __future__ import annotations

import llmp
from llmp._routing import install_dist

FIRST_PARTY = {"llmp-openai", "llmp-gemini", "llmp-together", "llmp-litellm"}


def test_every_first_party_route_has_the_right_install_hint() -> None:
    checked = 0
    for route in llmp.routes():
        if route.plugin not in FIRST_PARTY:
            continue
        model = route.pattern.replace("*", "some-model")
        assert install_dist(model) == route.plugin, f"{route.pattern}: hint says {install_dist(model)}"
        checked += 1
    assert checked >= 20  # the nine OpenAI-compatible hosts and the rest are all there
