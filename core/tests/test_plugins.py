"""The plugin contract: discovery, validation, isolation."""

import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import llmp
from llmp._plugins import PluginWarning, Registry
from llmp.errors import PluginError
from llmp.types import Route


def make_plugin(name: str, **hooks: object) -> types.SimpleNamespace:
    ns = types.SimpleNamespace(__name__=name)
    for hook, func in hooks.items():
        setattr(ns, hook, llmp.hookimpl(func))  # type: ignore[call-overload]
    return ns


def test_async_request_hook_is_rejected_with_a_clear_error() -> None:
    async def llmp_call(client: object, request: object) -> None:
        return None

    with pytest.raises(PluginError, match="async def"):
        Registry(load_entry_points=False).register(make_plugin("bad", llmp_call=llmp_call))


def test_misspelled_hook_is_an_error_with_a_suggestion() -> None:
    def llmp_route() -> list[Route]:
        return []

    with pytest.raises(PluginError, match="llmp_routes"):
        Registry(load_entry_points=False).register(make_plugin("typo", llmp_route=llmp_route))


def test_registries_are_isolated() -> None:
    def llmp_routes() -> list[Route]:
        return [Route("acme/*", "acme")]

    a = Registry(load_entry_points=False, plugins=[make_plugin("acme", llmp_routes=llmp_routes)])
    b = Registry(load_entry_points=False)
    assert a.resolve("acme/x").route.provider == "acme"
    assert a.resolve("acme/x").route.plugin == "acme"
    with pytest.raises(llmp.errors.UnknownModelError):
        b.resolve("acme/x")


def test_user_route_beats_plugin_route_for_same_pattern() -> None:
    def llmp_routes() -> list[Route]:
        return [Route("acme/*", "acme")]

    reg = Registry(load_entry_points=False, plugins=[make_plugin("acme", llmp_routes=llmp_routes)])
    llmp.add_route("acme/*", base_url="http://localhost:1/v1", provider="mine", registry=reg)
    assert reg.resolve("acme/x").route.provider == "mine"
    assert reg.resolve("acme/x").route.plugin == "user"


def _fake_distribution(tmp_path: Path, dist: str, ep_name: str, module: str, source: str) -> None:
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[llmp]\n{ep_name} = {module}\n")


def test_entry_point_discovery_and_broken_plugin_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(
        tmp_path,
        "llmp-acme",
        "acme",
        "llmp_acme_hooks",
        """
        import llmp
        from llmp.types import Route

        @llmp.hookimpl
        def llmp_routes():
            return [Route("acme/*", "acme")]
        """,
    )
    _fake_distribution(
        tmp_path, "llmp-broken", "broken", "llmp_broken_hooks", "import not_a_real_module_xyz\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("LLMP_PLUGINS", raising=False)
    reg = Registry()
    with pytest.warns(PluginWarning, match="llmp-broken"):
        route = reg.resolve("acme/model").route
    assert (route.provider, route.plugin) == ("acme", "llmp-acme")
    assert "acme" in {p.name for p in reg.plugins()}

    monkeypatch.setenv("LLMP_PLUGINS", "acme")
    only = Registry()
    assert {p.name for p in only.plugins()} == {"acme"}  # the broken one is not even imported


def test_import_llmp_loads_no_plugin_and_no_sdk() -> None:
    code = (
        "import sys, llmp\n"
        "assert 'llmp_openai' not in sys.modules and 'openai' not in sys.modules\n"
        "llm = llmp.LLM('gpt-4.1-mini', api_key='k', cache=False)\n"
        "assert 'llmp_openai._hooks' in sys.modules, 'routing loads plugins'\n"
        "assert 'openai' not in sys.modules and 'httpx2' not in sys.modules, 'no SDK until a request'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "ok", out.stderr
