"""The plugin contract v2: discovery, validation, wire APIs by name, isolation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

import llmp
from llmp._plugins import PluginWarning, Registry
from llmp.errors import PluginError, UnknownModelError
from llmp.testing import FunctionClient
from llmp.types import ClientSettings, Route


def make_plugin(name: str, **hooks: object) -> types.SimpleNamespace:
    ns = types.SimpleNamespace(__name__=name)
    for hook, func in hooks.items():
        setattr(ns, hook, llmp.hookimpl(func))  # type: ignore[call-overload]
    return ns


@pytest.mark.parametrize(
    "hook", ["llmp_create_client", "llmp_call", "llmp_stream", "llmp_batch", "llmp_request_params"]
)
def test_v1_hooks_are_refused_saying_what_replaced_them(hook: str) -> None:
    def impl(**_: Any) -> None:
        return None

    with pytest.raises(PluginError, match="v1 plugin contract") as info:
        Registry(load_entry_points=False).register(make_plugin("old", **{hook: impl}))
    assert "In v2" in str(info.value)


def test_async_hook_is_rejected() -> None:
    async def llmp_routes() -> list[Route]:
        return []

    with pytest.raises(PluginError, match="async def"):
        Registry(load_entry_points=False).register(make_plugin("bad", llmp_routes=llmp_routes))


def test_misspelled_hook_is_an_error_with_a_suggestion() -> None:
    def llmp_api() -> dict[str, Any]:
        return {}

    with pytest.raises(PluginError, match="llmp_apis"):
        Registry(load_entry_points=False).register(make_plugin("typo", llmp_api=llmp_api))


def test_two_plugins_claiming_one_api_name_is_an_error_naming_both() -> None:
    def apis() -> dict[str, Any]:
        return {"acme": lambda settings: None}

    registry = Registry(load_entry_points=False)
    registry.register(make_plugin("a", llmp_apis=apis), distribution="llmp-acme")
    registry.register(make_plugin("b", llmp_apis=apis), distribution="acme-fork")
    with pytest.raises(PluginError) as info:
        registry.apis  # noqa: B018
    assert "llmp-acme" in str(info.value)
    assert "acme-fork" in str(info.value)


def test_a_route_to_an_api_nobody_registers_says_so_before_sending() -> None:
    def routes() -> list[Route]:
        return [Route("ghost/*", "ghost", api="ghost-wire")]

    registry = Registry(load_entry_points=False, plugins=[make_plugin("g", llmp_routes=routes)])
    with pytest.raises(PluginError, match="ghost-wire"):
        llmp.LLM("ghost/x", registry=registry, cache=False).chat("hi")


def test_the_route_s_api_picks_the_factory_without_any_ownership_test() -> None:
    # Two plugins, two APIs, one client each: requests reach the client of their route's API only.
    one, two = FunctionClient(lambda r: "one"), FunctionClient(lambda r: "two")

    def routes() -> list[Route]:
        return [Route("one/*", "one", api="wire-one"), Route("two/*", "two", api="wire-two")]

    def apis_one() -> dict[str, Any]:
        return {"wire-one": lambda settings: one}

    def apis_two() -> dict[str, Any]:
        return {"wire-two": lambda settings: two}

    registry = Registry(
        load_entry_points=False,
        plugins=[
            make_plugin("r", llmp_routes=routes),
            make_plugin("p1", llmp_apis=apis_one),
            make_plugin("p2", llmp_apis=apis_two),
        ],
    )
    assert llmp.LLM("one/m", registry=registry, cache=False).chat("x") == "one"
    assert llmp.LLM("two/m", registry=registry, cache=False).chat("x") == "two"
    assert one.request_count == 1
    assert two.request_count == 1
    infos = {info.name: info.apis for info in registry.plugins()}
    assert infos["p1"] == ("wire-one",)


def test_registries_are_isolated() -> None:
    def llmp_routes() -> list[Route]:
        return [Route("acme/*", "acme")]

    a = Registry(load_entry_points=False, plugins=[make_plugin("acme", llmp_routes=llmp_routes)])
    b = Registry(load_entry_points=False)
    assert a.resolve("acme/x").route.provider == "acme"
    with pytest.raises(UnknownModelError):
        b.resolve("acme/x")


def test_user_route_beats_plugin_route_for_same_pattern() -> None:
    def llmp_routes() -> list[Route]:
        return [Route("acme/*", "acme")]

    reg = Registry(load_entry_points=False, plugins=[make_plugin("acme", llmp_routes=llmp_routes)])
    llmp.add_route("acme/*", base_url="http://localhost:1/v1", provider="mine", registry=reg)
    assert reg.resolve("acme/x").route.provider == "mine"
    assert reg.resolve("acme/x").route.plugin == "user"


def _install_plugin(site: Path, dist: str, ep_name: str, module: str, source: str) -> None:
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[llmp]\n{ep_name} = {module}\n")


def _run(site: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    environ = {**os.environ, "PYTHONPATH": str(site), **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=False
    )


def test_a_v1_plugin_from_an_entry_point_is_skipped_with_a_warning_naming_its_distribution(
    tmp_path: Path,
) -> None:
    _install_plugin(
        tmp_path,
        "llmp-oldstyle",
        "oldstyle",
        "oldstyle_hooks",
        """
        import llmp
        @llmp.hookimpl
        def llmp_call(client, request):
            return None
        """,
    )
    code = (
        "import warnings, llmp\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    llmp.Registry().table\n"
        "print([str(x.message) for x in w if 'oldstyle' in str(x.message)])\n"
    )
    out = _run(tmp_path, code, LLMP_PLUGINS="oldstyle")
    assert "llmp-oldstyle" in out.stdout, out.stdout + out.stderr
    assert "v1 plugin contract" in out.stdout


def test_llmp_plugins_misspelled_warns_with_a_suggestion_and_excluded_plugin_is_named(tmp_path: Path) -> None:
    _install_plugin(
        tmp_path,
        "llmp-acmewire",
        "acmewire",
        "acmewire_hooks",
        """
        import llmp
        from llmp.types import Route
        @llmp.hookimpl
        def llmp_routes():
            return [Route("acme/*", "acme", api="acme")]
        """,
    )
    code = (
        "import warnings, llmp\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    r = llmp.Registry()\n"
        "    r.table\n"
        "print('W', [str(x.message) for x in w])\n"
        "print('X', r.excluded.get('acmewire'))\n"
    )
    out = _run(tmp_path, code, LLMP_PLUGINS="acmewir")
    assert "Did you mean acmewire" in out.stdout, out.stdout + out.stderr
    assert "X llmp-acmewire" in out.stdout


def test_plugin_warning_is_a_user_warning() -> None:
    assert issubclass(PluginWarning, UserWarning)


def test_settings_hide_the_key_in_repr() -> None:
    settings = ClientSettings("p", "api", "https://h", "sk-secret-123")
    assert "sk-secret-123" not in repr(settings)
