"""API keys: who is calling, checked before any request body is read.

Authentication runs as ASGI middleware rather than as a route dependency because FastAPI
reads and validates a request's body before it runs dependencies. A dependency alone would
parse uploads from callers without a key and reject a malformed body with 422 where 401 is
due. Routes read the result through `get_principal`, which also puts the bearer scheme into
the OpenAPI schema.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from core.apikeys import key_matches, parse_prefix
from core.settings import Settings
from core.store import tenants as tenant_store
from core.store.tenants import TenantLimits
from core.store.db import Database

logger = logging.getLogger(__name__)

PROTECTED_PREFIX = "/v1/"
TENANT_HEADER = "Flyp-Tenant"

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description=f"An API key from `flyp keys create`. The admin key (FLYP_ADMIN_KEY) also needs a {TENANT_HEADER} header.",
)


@dataclass(frozen=True)
class Principal:
    """The caller: the tenant whose rows a request may see, and the key it used."""

    tenant_id: str | None
    key_id: str | None = None
    is_admin: bool = False
    limits: TenantLimits = TenantLimits()


# With auth off every request acts as this one tenant, whose rows have a NULL tenant_id.
ANONYMOUS = Principal(tenant_id=None)


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param


def _invalid_key() -> AuthError:
    return AuthError(401, "invalid_api_key", "The API key is invalid; check for a typo or ask an administrator for a new key.")


class Authenticator:
    """Turns an Authorization header (and, for the admin key, a tenant header) into a Principal."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.enabled = settings.auth_enabled
        self._database = database
        self._admin_key = settings.admin_key.get_secret_value() if settings.admin_key else None

    def authenticate(self, authorization: str | None, tenant_name: str | None) -> Principal:
        """Return the caller, or raise AuthError (401 for any missing, unknown or revoked key)."""
        if not self.enabled:
            return ANONYMOUS
        token = _bearer_token(authorization)
        if self._admin_key is not None and hmac.compare_digest(token.encode(), self._admin_key.encode()):
            return self._admin(tenant_name)
        prefix = parse_prefix(token)
        if prefix is None:
            raise _invalid_key()
        with self._database.session() as session:
            found = tenant_store.find_key(session, prefix)
        if found is None or not key_matches(token, found[0].secret_hash):
            raise _invalid_key()
        key, tenant = found
        if key.revoked_at is not None:
            logger.info("auth.revoked_key_used key_id=%s tenant_id=%s", key.id, tenant.id)
            raise AuthError(401, "api_key_revoked", f"The API key {key.id} was revoked; ask an administrator for a new key.")
        return Principal(tenant_id=tenant.id, key_id=key.id, limits=TenantLimits.of(tenant))

    def _admin(self, tenant_name: str | None) -> Principal:
        if not tenant_name:
            raise AuthError(
                400,
                "tenant_required",
                f"The admin key acts as one tenant at a time; name it in the {TENANT_HEADER} header.",
                param=TENANT_HEADER,
            )
        with self._database.session() as session:
            tenant = tenant_store.find_tenant(session, tenant_name)
        if tenant is None:
            raise AuthError(404, "tenant_not_found", f"No tenant named {tenant_name!r} exists.", param=TENANT_HEADER)
        return Principal(tenant_id=tenant.id, is_admin=True, limits=TenantLimits.of(tenant))

    def log_mode(self) -> None:
        """Log at start-up whether keys are needed, and warn when no key could pass."""
        if not self.enabled:
            logger.warning("api.auth mode=off: every request acts as one anonymous tenant; set FLYP_AUTH=on to require API keys")
            return
        with self._database.session() as session:
            has_keys = tenant_store.has_active_keys(session)
        logger.info("api.auth mode=on admin_key=%s", "set" if self._admin_key else "unset")
        if not has_keys and self._admin_key is None:
            logger.warning("api.auth no_keys: every /v1 request gets 401 until `flyp keys create --tenant NAME` makes a key")


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError(
            401,
            "missing_api_key",
            "This endpoint needs an API key: send 'Authorization: Bearer <key>'. An administrator creates keys with `flyp keys create`.",
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "invalid_authorization", "The Authorization header must read 'Bearer <key>'.")
    return token.strip()


class AuthMiddleware:
    """Authenticates every request under /v1/ and stores the Principal in the request state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        authenticator: Authenticator = scope["app"].state.authenticator
        if not authenticator.enabled:
            scope.setdefault("state", {})["principal"] = ANONYMOUS
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            principal = await anyio.to_thread.run_sync(
                authenticator.authenticate, request.headers.get("authorization"), request.headers.get(TENANT_HEADER)
            )
        except AuthError as error:
            logger.info("auth.rejected method=%s path=%s status=%d code=%s", scope["method"], scope["path"], error.status, error.code)
            response = error_response(error.status, error.code, error.message, param=error.param)
            if error.status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def get_principal(request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]) -> Principal:
    """Return the caller that AuthMiddleware stored; a route outside /v1/ never has one."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise RuntimeError(f"no caller for {request.url.path}: routes that need a tenant must live under {PROTECTED_PREFIX}")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
