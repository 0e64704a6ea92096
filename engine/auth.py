"""Passwords (argon2id, hashed off the event loop) and access tokens (JWT HS256)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine.errors import Unauthenticated, WeakPassword
from engine.settings import MIN_JWT_SECRET_BYTES, Settings
from engine.types import Role, UserId

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256

# argon2-cffi's defaults are the RFC 9106 "low memory" profile (argon2id, t=3, m=64 MiB).
_hasher = PasswordHasher()
# A real hash to verify against when the email is unknown, so a login takes as long either
# way and does not tell an attacker which emails have accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def check_password_strength(password: str) -> None:
    """Raise `WeakPassword` unless the password is long enough (NIST 800-63B: length wins)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"password must have at most {MAX_PASSWORD_LENGTH} characters")


async def hash_password(password: str) -> str:
    """argon2id hash; runs in a thread because it takes tens of milliseconds on purpose."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; verifies a dummy hash when there is no account."""
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False
    return await asyncio.to_thread(check)


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


class TokenIssuer:
    """Issues and verifies HS256 access tokens with a required set of claims."""

    def __init__(self, settings: Settings) -> None:
        if settings.jwt_secret is None:
            raise ValueError("no JWT secret: use Settings.with_jwt_secret()")
        self._key = settings.jwt_secret.reveal()
        if len(self._key) < MIN_JWT_SECRET_BYTES:
            raise ValueError(f"JWT secret must be at least {MIN_JWT_SECRET_BYTES} bytes")
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.ttl = settings.jwt_ttl_seconds

    def issue(self, user_id: UserId, role: Role, email: str, version: int = 0) -> str:
        """A signed token for this user at this token version, with a fresh token id."""
        now = int(time.time())
        claims = {"sub": str(user_id), "role": role.value, "email": email, "iat": now,
                  "exp": now + self.ttl, "iss": self._issuer, "aud": self._audience,
                  "ver": version, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; `Unauthenticated` for anything else."""
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
