"""Token verification and its cache: a token checked once is answered from memory until it
expires — never a moment longer — and a token that differs in any byte is checked afresh."""

from __future__ import annotations

import time

import pytest

from engine.auth import TokenIssuer
from engine.errors import Unauthenticated
from engine.settings import Secret, Settings
from engine.types import Role


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _issuer(clock: Clock) -> TokenIssuer:
    return TokenIssuer(Settings(jwt_secret=Secret("k" * 48), jwt_ttl_seconds=60), clock=clock)


def test_a_cached_token_expires_with_the_token() -> None:
    clock = Clock()
    issuer = _issuer(clock)
    token = issuer.issue(7, Role.USER, "a@example.com")
    first = issuer.verify(token)
    assert issuer.verify(token) is first  # from the cache: the same principal object
    clock.now = first.expires_at + 1  # past its expiry, the cached answer no longer holds
    with pytest.raises(Unauthenticated):
        issuer.verify(token)


def test_a_tampered_token_is_checked_not_served_from_the_cache() -> None:
    issuer = _issuer(Clock())
    token = issuer.issue(7, Role.USER, "a@example.com")
    issuer.verify(token)
    head, payload, signature = token.split(".")
    forged = ".".join((head, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")))
    with pytest.raises(Unauthenticated):
        issuer.verify(forged)
