"""Who is calling: verify a Supabase-style HS256 JWT and read AWCMS tenant and role.

Shared kernel, used by admin and upload routes. Claims follow Supabase: ``sub``,
``role`` (the PostgreSQL role, e.g. ``authenticated``), the tenant in ``tenant_id`` or
``app_metadata.tenant_id`` and the AWCMS role in ``app_metadata.role`` or ``user_role``.
Never trusts a claim from ``user_metadata``: users can edit that themselves.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import jwt

from awsm.errors import Forbidden, Unauthorized
from awsm.settings import Settings

__all__ = ["ADMIN_ROLES", "Principal", "require_role", "verify_bearer"]

ADMIN_ROLES = frozenset({"admin", "owner", "super_admin"})
_BEARER = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    tenant_id: str | None
    role: str | None


def verify_bearer(authorization: str | None, settings: Settings) -> Principal:
    """``Authorization: Bearer <jwt>`` → ``Principal``; ``Unauthorized`` when it is not valid."""
    if not authorization:
        raise Unauthorized("An 'Authorization: Bearer <token>' header is required.",
                           headers=_BEARER)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.", headers=_BEARER)
    if not settings.jwt_secret:
        raise Unauthorized("Token verification is not configured (AWSM_JWT_SECRET).",
                           headers=_BEARER)
    try:
        claims: dict[str, Any] = jwt.decode(
            token.strip(), settings.jwt_secret, algorithms=["HS256"],
            audience=settings.jwt_audience,
            options={"require": ["sub", "exp"], "verify_aud": settings.jwt_audience is not None},
            leeway=30,
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired.", headers=_BEARER) from exc
    except jwt.InvalidAudienceError as exc:
        raise Unauthorized("The token is for another audience.", headers=_BEARER) from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The token is not valid.", detail=repr(exc), headers=_BEARER) from exc
    app_metadata = claims.get("app_metadata")
    app_metadata = app_metadata if isinstance(app_metadata, dict) else {}
    named = {str(t) for t in (claims.get("tenant_id"), app_metadata.get("tenant_id")) if t}
    if len(named) > 1:  # which one was meant is anyone's guess: neither
        raise Unauthorized("The token names two different tenants (tenant_id and "
                           "app_metadata.tenant_id).", headers=_BEARER)
    tenant = next(iter(named), None)
    role = app_metadata.get("role") or claims.get("user_role")
    return Principal(
        subject=str(claims["sub"]),
        tenant_id=tenant,
        role=str(role) if role else None,
    )


def require_role(principal: Principal, roles: Collection[str] = ADMIN_ROLES) -> Principal:
    """Return ``principal`` when its AWCMS role is one of ``roles``; ``Forbidden`` otherwise."""
    if principal.role not in roles:
        raise Forbidden(f"This needs one of the roles {', '.join(sorted(roles))}; the token "
                        f"has {principal.role or 'none'}.")
    return principal
