import pytest

from llmp._keys import fingerprint, key_pool
from llmp.errors import AuthenticationError, MissingAPIKeyError


def test_missing_key_names_both_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_API_KEY", raising=False)
    monkeypatch.delenv("ACME_KEYS", raising=False)
    with pytest.raises(MissingAPIKeyError) as info:
        key_pool("acme", "ACME")
    assert "ACME_API_KEY" in str(info.value)
    assert "ACME_KEYS" in str(info.value)


def test_keys_list_wins_and_rotates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROT_API_KEY", "single")
    monkeypatch.setenv("ROT_KEYS", "k1, k2,k3")
    pool = key_pool("rot", "ROT")
    assert pool is not None
    assert [pool.pick() for _ in range(6)] == ["k1", "k2", "k3", "k1", "k2", "k3"]


def test_rate_limited_key_steps_aside_and_rejected_key_retires() -> None:
    pool = key_pool("rot2", None, None)
    assert pool is None  # no key needed
    from llmp._keys import KeyPool

    pool = KeyPool("p", ["a", "b", "c"])
    pool.rate_limited("a", 60)
    assert "a" not in {pool.pick() for _ in range(6)}
    assert pool.rejected("b") is True
    assert {pool.pick() for _ in range(6)} == {"c"}
    assert pool.rejected("c") is True  # "a" is only cooling, so it remains
    pool.rejected("a")
    with pytest.raises(AuthenticationError):
        pool.pick()


def test_repr_and_fingerprint_hide_keys() -> None:
    from llmp._keys import KeyPool

    secret = "sk-live-abcdef0123456789"
    assert secret not in repr(KeyPool("p", [secret]))
    assert secret not in fingerprint(secret)
    assert fingerprint(secret) == fingerprint(secret) != fingerprint(secret + "x")
