"""The gateway's in-memory session view, alone: newest version wins in any order, only
users whose version is not 0 are held, a user absent from a full read after being held is
gone, signed-out tokens are forgotten once expired — and nothing is ever read per request."""

from __future__ import annotations

import pytest

from engine.auth import Principal
from engine.errors import SessionRevoked
from engine.sessions import GONE, SessionView
from engine.types import Role, UserId


def token(user_id: UserId, version: int = 0, token_id: str = "t", expires: int = 10**10
          ) -> Principal:
    return Principal(user_id, Role.USER, f"u{user_id}@test.example", version, token_id, expires)


async def test_the_newest_version_wins_whatever_the_order() -> None:
    view = SessionView()
    view.refresh({1: 3}, [])
    await view.admit(token(1, 3))
    view.user_version(1, 5)
    view.user_version(1, 4)  # a late, older announcement changes nothing
    view.refresh({1: 4}, [])  # nor does a read that started before the push
    with pytest.raises(SessionRevoked):
        await view.admit(token(1, 4))
    await view.admit(token(1, 5))
    await view.admit(token(1, 6))  # newer than heard: we signed it, so it is learnt
    with pytest.raises(SessionRevoked):
        await view.admit(token(1, 5))


async def test_a_user_never_changed_is_at_zero_and_not_held() -> None:
    view = SessionView()
    view.refresh({2: 1}, [])
    for user in range(3, 1000):  # a surge of buyers new to this gateway
        await view.admit(token(user))
    assert view.held == 1
    with pytest.raises(SessionRevoked):
        await view.admit(token(2, 0))


async def test_a_user_gone_stays_gone() -> None:
    view = SessionView()
    view.refresh({7: 2, 8: -1}, [])  # 8 was removed before this gateway started
    with pytest.raises(SessionRevoked):
        await view.admit(token(8, 10**9))
    view.refresh({}, [])  # 7 deleted outright while nobody listened: absent from the read
    with pytest.raises(SessionRevoked):
        await view.admit(token(7, 10**9))
    view.user_version(9, -1)
    with pytest.raises(SessionRevoked):
        await view.admit(token(9, 10**9))
    assert view.held == 3 and GONE > 10**18


async def test_signed_out_tokens_are_forgotten_once_expired() -> None:
    now = [1000.0]
    view = SessionView(clock=lambda: now[0])
    view.token_revoked("a", 1010)
    view.token_revoked("old", 999)  # expired already: nothing to keep
    with pytest.raises(SessionRevoked):
        await view.admit(token(1, token_id="a", expires=1010))
    await view.admit(token(1, token_id="old", expires=999))  # expiry is the issuer's check
    now[0] = 1011.0
    view.token_revoked("b", 2000)
    await view.admit(token(1, token_id="a"))
    with pytest.raises(SessionRevoked):
        await view.admit(token(1, token_id="b"))
