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

from awsm.errors import Forbidden, ServiceUnavailable, Unauthorized
from awsm.settings import Settings

__all__ = ["ADMIN_ROLES", "AuthNotConfigured", "Principal", "require_role", "verify_bearer"]

ADMIN_ROLES = frozenset({"admin", "owner", "super_admin"})
_BEARER = {"WWW-Authenticate": "Bearer"}


class AuthNotConfigured(ServiceUnavailable):
    code, message = ("auth_not_configured", "This server verifies no tokens (AWSM_JWT_SECRET "
                     "is not set): routes that need one, uploads, are off here.")


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    tenant_id: str | None
    role: str | None


def verify_bearer(authorization: str | None, settings: Settings) -> Principal:
    """``Authorization: Bearer <jwt>`` → ``Principal``; ``Unauthorized`` when it is not valid."""
    if not settings.jwt_secret:
        # a search replica need not hold the secret that can mint any Supabase token
        raise AuthNotConfigured()
    if not authorization:
        raise Unauthorized("An 'Authorization: Bearer <token>' header is required.",
                           headers=_BEARER)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.", headers=_BEARER)
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
    if not str(claims["sub"]).strip():
        raise Unauthorized("The token's sub claim names no user.", headers=_BEARER)
    if any(isinstance(claims.get(c), (str, bool)) for c in ("exp", "nbf", "iat")):
        # RFC 7519 NumericDates; PyJWT would read "1765432100" as one
        raise Unauthorized("The token's exp, nbf and iat claims must be numbers.",
                           headers=_BEARER)
    app_metadata = claims.get("app_metadata")
    app_metadata = app_metadata if isinstance(app_metadata, dict) else {}
    tenants = (claims.get("tenant_id"), app_metadata.get("tenant_id"))
    roles = (app_metadata.get("role"), claims.get("user_role"))
    if any(v is not None and not isinstance(v, str) for v in (*tenants, *roles)):
        # str(True) would make a tenant "True" (an upload folder of that name)
        raise Unauthorized("The token's tenant_id and role claims must be strings.",
                           headers=_BEARER)
    named = {t for t in tenants if t}
    if len(named) > 1:  # which one was meant is anyone's guess: neither
        raise Unauthorized("The token names two different tenants (tenant_id and "
                           "app_metadata.tenant_id).", headers=_BEARER)
    return Principal(
        subject=str(claims["sub"]),
        tenant_id=next(iter(named), None),
        role=roles[0] or roles[1] or None,
    )


def require_role(principal: Principal, roles: Collection[str] = ADMIN_ROLES) -> Principal:
    """Return ``principal`` when its AWCMS role is one of ``roles``; ``Forbidden`` otherwise."""
    if principal.role not in roles:
        raise Forbidden(f"This needs one of the roles {', '.join(sorted(roles))}; the token "
                        f"has {principal.role or 'none'}.")
    return principal
