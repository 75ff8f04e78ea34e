"""CLI start-up with the first-party plugins installed: listing routes imports no provider SDK."""

from __future__ import annotations

from llmp.testing._cli_imports import cli_imports


def test_listing_routes_imports_no_sdk() -> None:
    out, loaded = cli_imports(["routes"])
    assert "llmp-openai" in out
    assert loaded == ["llmp._cli._inspect"]
