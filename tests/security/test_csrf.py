from __future__ import annotations

import pytest

from collector.security.csrf import CsrfProtector

KEY = "k" * 43


def test_token_verifies_only_for_its_session_and_key():
    csrf = CsrfProtector(KEY)
    token = csrf.issue("session-1")
    assert csrf.verify("session-1", token)
    assert csrf.issue("session-1") != token  # fresh nonce each time
    assert not csrf.verify("session-2", token)
    assert not CsrfProtector(KEY + "x").verify("session-1", token)


@pytest.mark.parametrize("bad", ["", "abc", "a.b.c", ".", "nonce.", ".mac", None])
def test_malformed_tokens_fail(bad):
    assert not CsrfProtector(KEY).verify("session-1", bad)


def test_tampering_fails():
    csrf = CsrfProtector(KEY)
    nonce, mac = csrf.issue("s").split(".")
    assert not csrf.verify("s", f"{nonce}x.{mac}")
    assert not csrf.verify("s", f"{nonce}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}")
    assert not csrf.verify(None, csrf.issue("s"))


def test_needs_a_key_and_a_session():
    with pytest.raises(ValueError):
        CsrfProtector("")
    with pytest.raises(ValueError):
        CsrfProtector(KEY).issue("")
