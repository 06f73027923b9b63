"""The proxy's web application: checks a run's token, meters the call, forwards it with the key.

Routes: ``/openai/v1/...`` (OpenAI: chat completions and responses are metered, model listing
passes) and ``/anthropic/v1/...`` (Anthropic: messages are metered, model listing and token
counting pass). A grant's ``upstream`` is the provider's API root with its ``/v1``. Anything
else is 404: the proxy is not a general way out of the container.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_harness.proxy.ledger import Ledger, Refused, Reservation
from agent_harness.proxy.usage import Api, StreamMeter, usage_of_answer

OPENAI_UPSTREAM = "https://api.openai.com/v1"
"""Where OpenAI calls go unless ``MLRB_OPENAI_UPSTREAM`` says otherwise."""
ANTHROPIC_UPSTREAM = "https://api.anthropic.com"
"""Where Anthropic calls go unless ``MLRB_ANTHROPIC_UPSTREAM`` says otherwise (the SDK's form,
without ``/v1``)."""

MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""Largest request body the proxy forwards (images in prompts included)."""

_ROUTES: dict[str, dict[tuple[str, str], Api | None]] = {
    "openai": {
        ("POST", "chat/completions"): "chat",
        ("POST", "responses"): "responses",
        ("GET", "models"): None,
    },
    "anthropic": {
        ("POST", "messages"): "messages",
        ("POST", "messages/count_tokens"): None,
        ("GET", "models"): None,
    },
}
_FORWARDED_REQUEST_HEADERS = ("content-type", "accept", "user-agent", "idempotency-key")
_FORWARDED_PREFIXES = ("anthropic-", "openai-", "x-stainless-")
_DROPPED_RESPONSE_HEADERS = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive",
     "set-cookie", "date", "server"}
)  # fmt: skip


@dataclass(frozen=True)
class Grant:
    """What one run's token unlocks: one provider, its real key, and the run's ledger."""

    provider: str
    key: str = field(repr=False)
    upstream: str
    ledger: Ledger


class Grants:
    """The live tokens; a revoked token is refused at once (the run has ended)."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}

    def issue(self, grant: Grant) -> str:
        """A fresh token for ``grant``."""
        token = f"mlrb-run-{secrets.token_urlsafe(24)}"
        self._grants[token] = grant
        return token

    def revoke(self, token: str) -> None:
        """The token stops working."""
        self._grants.pop(token, None)

    def get(self, token: str | None) -> Grant | None:
        """The grant of a live token."""
        return self._grants.get(token) if token else None


def _error(provider: str, status: int, kind: str, message: str) -> Any:
    from starlette.responses import JSONResponse

    if provider == "anthropic":
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": kind, "code": kind}}
    # The stock SDKs retry 429 unless told not to; a spent budget stays spent.
    headers = {"x-should-retry": "false"} if status in (401, 429) else {}
    return JSONResponse(body, status_code=status, headers=headers)


def _token(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-api-key")


def _output_cap(api: Api, body: dict[str, Any]) -> int:
    names = {
        "chat": ("max_completion_tokens", "max_tokens"),
        "responses": ("max_output_tokens",),
        "messages": ("max_tokens",),
    }[api]
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return 0


def _upstream_headers(request_headers: Mapping[str, str], grant: Grant) -> dict[str, str]:
    headers = {
        k: v
        for k, v in request_headers.items()
        if k in _FORWARDED_REQUEST_HEADERS or k.startswith(_FORWARDED_PREFIXES)
    }
    headers["accept-encoding"] = "identity"  # the meter reads the stream as it passes
    if grant.provider == "anthropic":
        headers["x-api-key"] = grant.key
    else:
        headers["authorization"] = f"Bearer {grant.key}"
    return headers


def create_app(grants: Grants) -> Any:
    """The Starlette application serving every live grant."""
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    state: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        timeout = httpx.Timeout(connect=30.0, read=600.0, write=60.0, pool=30.0)
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            state["client"] = client
            yield

    async def forward(request: Request) -> Any:
        provider = request.path_params["provider"]
        path = request.path_params["path"]
        if provider not in _ROUTES:
            return _error("openai", 404, "not_found", f"no provider {provider!r} here")
        grant = grants.get(_token(request.headers))
        if grant is None or grant.provider != provider:
            return _error(provider, 401, "invalid_api_key", "unknown, revoked or foreign token")
        if (request.method, path) not in _ROUTES[provider]:
            return _error(provider, 404, "not_found", f"{request.method} {path} is not proxied")
        api = _ROUTES[provider][(request.method, path)]
        raw = await request.body()
        if len(raw) > MAX_REQUEST_BYTES:
            return _error(provider, 413, "request_too_large", "request body too large")
        held: Reservation | None = None
        if api is not None:
            try:
                body = json.loads(raw)
            except ValueError:
                return _error(provider, 400, "invalid_request_error", "body is not JSON")
            if not isinstance(body, dict):
                return _error(provider, 400, "invalid_request_error", "body is not an object")
            stream = body.get("stream") is True
            if api == "chat" and stream:
                # Without it a chat stream reports no usage; the extra final chunk is standard.
                options = body.get("stream_options")
                body["stream_options"] = {**(options if isinstance(options, dict) else {}),
                                          "include_usage": True}  # fmt: skip
                raw = json.dumps(body).encode()
            try:
                held = grant.ledger.admit(
                    api, str(body.get("model", "")), stream, len(raw), _output_cap(api, body)
                )
            except Refused as exc:
                kind = "rate_limit_error" if provider == "anthropic" else "budget_exceeded"
                return _error(provider, 429, kind, f"the run's model budget is spent: {exc}")
        client = state["client"]
        url = f"{grant.upstream.rstrip('/')}/{path}"
        upstream_request = client.build_request(
            request.method,
            url,
            params=request.query_params,
            headers=_upstream_headers(request.headers, grant),
            content=raw if request.method == "POST" else None,
        )
        try:
            answer = await client.send(upstream_request, stream=True)
        except httpx.HTTPError as exc:
            if held is not None:
                grant.ledger.settle(held, 502, None)
            return _error(provider, 502, "upstream_unreachable", f"{type(exc).__name__}")
        headers = {
            k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED_RESPONSE_HEADERS
        }
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            meter = StreamMeter(api) if api is not None else None

            async def relay() -> AsyncIterator[bytes]:
                try:
                    async for chunk in answer.aiter_raw():
                        if meter is not None:
                            meter.feed(chunk)
                        yield chunk
                finally:
                    await answer.aclose()
                    if held is not None:
                        usage = meter.usage if meter is not None else None
                        grant.ledger.settle(held, answer.status_code, usage)

            return StreamingResponse(relay(), status_code=answer.status_code, headers=headers)
        try:
            content = await answer.aread()
        finally:
            await answer.aclose()
        if held is not None:
            usage = None
            with contextlib.suppress(ValueError):
                usage = usage_of_answer(held.api, json.loads(content))
            grant.ledger.settle(held, answer.status_code, usage)
        return Response(content, status_code=answer.status_code, headers=headers)

    routes = [
        Route("/{provider:str}/v1/{path:path}", forward, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    return app
