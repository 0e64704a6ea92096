"""Passwords (argon2id, hashed off the event loop) and access tokens (JWT HS256)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from engine.errors import Unauthenticated, WeakPassword
from engine.settings import MIN_JWT_SECRET_BYTES, Settings
from engine.types import Role, UserId

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
#: zxcvbn's score (0 to 4) a password needs: 3 is "safely unguessable" against an online
#: attack and a slowed-down offline one (argon2 is the slowing).
MIN_PASSWORD_SCORE = 3
ZXCVBN_MAX_LENGTH = 72

# argon2-cffi's defaults are the RFC 9106 "low memory" profile (argon2id, t=3, m=64 MiB).
_hasher = PasswordHasher()
# A real hash to verify against when the email is unknown, so a login takes as long either
# way and does not tell an attacker which emails have accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

_T = TypeVar("_T")


class HashingThreads:
    """At most `size` argon2 computations at once; the rest wait their turn.

    Each one takes 64 MiB and a core for tens of milliseconds, so running one per request
    (asyncio.to_thread's pool has up to 32 threads) turns 50 parallel logins into gigabytes
    without finishing any sooner. A pool of one thread per core is a queue instead.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.running = 0
        #: Most computations seen running at once (observed by the tests).
        self.peak = 0

    def _counted(self, fn: Callable[[], _T]) -> _T:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            return fn()
        finally:
            with self._lock:
                self.running -= 1

    async def run(self, fn: Callable[[], _T]) -> _T:
        """`fn()` on one of the threads, once one is free."""
        if self._executor is None:  # created on first use: no threads at import
            self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="argon2")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._counted, fn)


#: One per process: the bound is on this machine's cores, whatever calls it.
hashing = HashingThreads(os.cpu_count() or 1)


def check_password_strength(password: str, user_inputs: Sequence[str] = ()) -> None:
    """Raise `WeakPassword` unless the password is long enough and hard to guess.

    Length first (NIST 800-63B), then zxcvbn's estimate of how many guesses it takes, which
    knows common passwords, keyboard walks, repeats, dates and l33t, and `user_inputs` (the
    email, the name) so a password made of them counts as guessable.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"password must have at most {MAX_PASSWORD_LENGTH} characters")
    # zxcvbn's time grows with length; the first 72 characters tell enough.
    verdict = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=[
        part for value in user_inputs for part in (value, value.split("@")[0]) if part])
    if verdict["score"] < MIN_PASSWORD_SCORE:
        feedback = verdict["feedback"]
        raise WeakPassword(f"This password is too easy to guess. {feedback['warning']}".strip(),
                           suggestions=list(feedback["suggestions"]))


async def hash_password(password: str) -> str:
    """argon2id hash; runs on `hashing`'s threads: it takes tens of milliseconds on purpose."""
    return await hashing.run(lambda: _hasher.hash(password))


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; verifies a dummy hash when there is no account."""
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False
    return await hashing.run(check)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token says the caller is, and which session the token belongs to."""

    user_id: UserId
    role: Role
    email: str
    #: The user's token version when the token was issued; a newer one revokes it.
    version: int
    #: The token's own id (`jti`), denylisted by a logout of this session.
    token_id: str
    #: When the token expires (epoch seconds): a denylist entry is needed until then only.
    expires_at: int


#: Verified tokens remembered per process (see `TokenIssuer.verify`).
VERIFIED_CACHE_SIZE = 65536


class TokenIssuer:
    """Issues and verifies HS256 access tokens with a required set of claims."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        if settings.jwt_secret is None:
            raise ValueError("no JWT secret: use Settings.with_jwt_secret()")
        self._key = settings.jwt_secret.reveal()
        if len(self._key) < MIN_JWT_SECRET_BYTES:
            raise ValueError(f"JWT secret must be at least {MIN_JWT_SECRET_BYTES} bytes")
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.ttl = settings.jwt_ttl_seconds
        self._clock = clock
        self._verified: OrderedDict[str, Principal] = OrderedDict()

    def issue(self, user_id: UserId, role: Role, email: str, version: int = 0) -> str:
        """A signed token for this user at this token version, with a fresh token id."""
        now = int(time.time())
        claims = {"sub": str(user_id), "role": role.value, "email": email, "iat": now,
                  "exp": now + self.ttl, "iss": self._issuer, "aud": self._audience,
                  "ver": version, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; `Unauthenticated` for anything else.

        A token verified before is answered from a bounded LRU until it expires: the HMAC
        and the claims' parsing were a quarter of a gateway's CPU per request (py-spy). The
        key is the whole token, which the signature covers, so a hit is exactly as valid as
        the first check; revocation is judged per request on the principal, not here.
        """
        hit = self._verified.get(token)
        if hit is not None:
            if hit.expires_at > self._clock():
                self._verified.move_to_end(token)
                return hit
            del self._verified[token]
        principal = self._decode(token)
        if principal.expires_at <= self._clock():  # the same clock judges hits and misses
            raise Unauthenticated("invalid or expired token")
        self._verified[token] = principal
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    def _decode(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["HS256"], audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "ver", "jti"]})
            return _principal(claims)
        except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
            raise Unauthenticated("invalid or expired token") from exc


def _principal(claims: dict[str, Any]) -> Principal:
    """The principal of verified claims; `ValueError` for a claim of the wrong shape."""
    version, token_id = claims["ver"], claims["jti"]
    if type(version) is not int or version < 0 or not isinstance(token_id, str):
        raise ValueError("ver must be a whole number and jti a string")
    return Principal(int(claims["sub"]), Role(claims["role"]), str(claims["email"]), version,
                     uuid.UUID(hex=token_id).hex, int(claims["exp"]))
