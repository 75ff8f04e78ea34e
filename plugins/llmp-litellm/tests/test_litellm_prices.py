"""Prices: our table for Anthropic, else litellm's bundled map, else None (never a guess)."""

import subprocess
import sys

import pytest

from llmp.types import Usage
from llmp_litellm import _hooks
from llmp_litellm._client import import_litellm

M = 1_000_000
K100 = 100_000  # below the 200K prompt size where long-context prices start


def price(provider: str, model: str, usage: Usage, mode: str = "standard"):  # type: ignore[no-untyped-def]
    return _hooks.llmp_price(provider=provider, model=model, usage=usage, mode=mode)


def test_own_table_prices_cache_reads_and_writes() -> None:
    usage = Usage(
        K100, 20_000, 10_000, cache_write_tokens=30_000, details={"cache_creation_1h_input_tokens": 10_000}
    )
    cost = price("anthropic", "claude-sonnet-4-6", usage)
    # 50K plain at $3/M, 20K 5-minute writes at 1.25x, 10K 1-hour writes at 2x; reads $0.30; out $15.
    assert cost.input == pytest.approx((50_000 * 3.00 + 20_000 * 3.75 + 10_000 * 6.00) / M)
    assert cost.cached_input == pytest.approx(20_000 * 0.30 / M)
    assert cost.output == pytest.approx(10_000 * 15.00 / M)
    # A Usage without cache writes: its uncached input is all priced as plain input.
    plain = price("anthropic", "claude-sonnet-4-6", Usage(K100, 20_000, 0))
    assert plain.input == pytest.approx(80_000 * 3.00 / M)


def test_batch_is_half_price_and_snapshots_share_a_price() -> None:
    usage = Usage(K100, 0, K100)
    standard = price("anthropic", "claude-opus-4-6", usage)
    batch = price("anthropic", "claude-opus-4-6", usage, "batch")
    assert (standard.input, standard.output) == pytest.approx((0.50, 2.50))
    assert (batch.input, batch.output) == pytest.approx((0.25, 1.25))
    snapshot = price("anthropic", "claude-sonnet-4-5-20250929", usage)
    assert snapshot == price("anthropic", "claude-sonnet-4-5", usage)
    assert price("anthropic", "claude-haiku-4-5", usage).total == pytest.approx(0.60)


def test_long_prompts_are_priced_only_where_the_premium_is_known() -> None:
    usage = Usage(300_000, 0, 10_000)
    sonnet_45 = price("anthropic", "claude-sonnet-4-5", usage)
    assert sonnet_45.input == pytest.approx(0.3 * 6.00)
    assert sonnet_45.output == pytest.approx(0.01 * 22.50)
    assert price("anthropic", "claude-sonnet-4-6", usage) is None


def test_other_models_come_from_litellms_map() -> None:
    table = import_litellm().model_cost
    usage = Usage(K100, 0, K100)
    entry = table["claude-3-7-sonnet-20250219"]  # an Anthropic model not in our table
    cost = price("anthropic", "claude-3-7-sonnet-20250219", usage)
    assert cost.input == pytest.approx(entry["input_cost_per_token"] * K100)
    assert cost.output == pytest.approx(entry["output_cost_per_token"] * K100)
    mistral = table["mistral/mistral-large-latest"]  # through the catch-all, named as litellm names it
    cost = price("litellm", "mistral/mistral-large-latest", usage)
    per_token = mistral["input_cost_per_token"] + mistral["output_cost_per_token"]
    assert cost.total == pytest.approx(per_token * K100)


def test_unknown_is_none() -> None:
    usage = Usage(1000, 0, 1000)
    assert price("anthropic", "claude-not-a-model-9", usage) is None
    assert price("litellm", "nobody/knows-this-model", usage) is None
    # Cache reads the map has no price for make the cost unknown rather than wrong.
    assert price("litellm", "mistral/mistral-large-latest", Usage(1000, 500, 10)) is None


def test_other_plugins_providers_are_not_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pricing OpenAI's models is llmp-openai's job; litellm's map is never read for them.
    monkeypatch.setitem(sys.modules, "litellm", None)  # importing it now would fail loudly
    monkeypatch.setattr("llmp_litellm._client._litellm", None)
    monkeypatch.setattr("llmp_litellm._capabilities._table", None)
    monkeypatch.setattr("llmp_litellm._capabilities._load", lambda: pytest.fail("the map was read"))
    assert price("openai", "gpt-4o-mini", Usage(1000, 0, 1000)) is None


def test_models_outside_our_table_are_priced_without_importing_litellm() -> None:
    code = (
        "import sys\n"
        "from llmp.types import Usage\n"
        "from llmp_litellm import _hooks\n"
        "cost = _hooks.llmp_price(provider='anthropic', model='claude-3-7-sonnet-20250219',"
        " usage=Usage(1000, 0, 1000), mode='standard')\n"
        "print(cost.total > 0, 'litellm' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert out.stdout.split() == ["True", "False"], out.stdout + out.stderr
