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
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_contracts.transcript import CUT_MARKER
from agent_harness.proxy.account import Account, Refused, Reservation
from agent_harness.proxy.transcript import StreamKeeper, Transcript
from agent_harness.proxy.usage import Api, StreamMeter, Usage, usage_of_answer

OPENAI_UPSTREAM = "https://api.openai.com/v1"
"""Where OpenAI calls go unless ``MLRB_OPENAI_UPSTREAM`` says otherwise."""
ANTHROPIC_UPSTREAM = "https://api.anthropic.com"
"""Where Anthropic calls go unless ``MLRB_ANTHROPIC_UPSTREAM`` says otherwise (the SDK's form,
without ``/v1``)."""

MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""Largest request body the proxy forwards (images in prompts included): refused from its
``Content-Length`` before a byte is read, or as soon as a chunked body passes it."""

IN_FLIGHT_BYTES = 128 * 1024 * 1024
"""Most memory the proxy lets request bodies take at once, over all the run's calls: each
body's chunks as they arrive and their joined copy, a bound on what parsing it takes
(:func:`parse_bound`, given back once parsed), a rewritten body, and the copy the HTTP client
makes to send it. A call that would pass it is refused (503, retried by the SDKs); one that
could never fit is refused as too large (413)."""

PARSED_BYTES_PER_TOKEN = 128
"""A bound on the memory ``json.loads`` takes per structural character (``, : [ {``) of a
body, whatever it holds (measured: at most 100 bytes, for a list of one-key objects)."""

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
    """What one run's token unlocks: one provider, its real key, and the run's account."""

    provider: str
    key: str = field(repr=False)
    upstream: str
    account: Account
    transcript: Transcript | None = None
    """Where each metered call's request and answer are recorded (None: not recorded)."""


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


@dataclass
class _Call:
    """A metered call as the transcript records it, from its arrival to its answer's end."""

    grant: Grant
    api: Api
    pool: InFlight
    model: str = ""
    stream: bool = False
    request_text: str | None = None
    """The recorded request as JSON text (compact while the call lasts; counted in ``pool``)."""
    cut: bool = False
    holds: list[int] = field(default_factory=lambda: [0])
    """Bytes the transcript's copies of this call hold in ``pool``."""
    started_at: float = field(default_factory=time.time)
    arrived: float = field(default_factory=time.monotonic)
    sent: float | None = None

    def end(
        self,
        status: int,
        charged: tuple[Usage, str, float | None] | None,
        answer: Any = None,
        answer_cut: bool = False,
        refused_by: str | None = None,
    ) -> None:
        """Record the call (no-op without a transcript) and give back what its copies held."""
        transcript = self.grant.transcript
        if transcript is None:
            return
        try:
            self._record(transcript, status, charged, answer, answer_cut, refused_by)
        finally:
            self.pool.give(self.holds)

    def keep_request(self, body: Any) -> None:
        """Keep the request as the transcript records it (redacted, capped), if memory allows."""
        transcript = self.grant.transcript
        if transcript is None:
            return
        kept, self.cut = transcript.keep_request(body)
        text = json.dumps(kept, ensure_ascii=False)
        if self.pool.try_take(self.holds, len(text)):
            self.request_text = text
        else:
            self.request_text = json.dumps(f"{CUT_MARKER}the proxy's memory bound]")
            self.cut = True

    def _record(
        self,
        transcript: Transcript,
        status: int,
        charged: tuple[Usage, str, float | None] | None,
        answer: Any,
        answer_cut: bool,
        refused_by: str | None,
    ) -> None:
        ended = time.monotonic()
        if refused_by is None and (status == 429 or status >= 500):
            refused_by = "upstream"
        usage, source, cost = charged if charged is not None else (None, "none", None)
        transcript.record(
            provider=self.grant.provider,
            api=self.api,
            model=self.model,
            stream=self.stream,
            started_at=self.started_at,
            latency_s=ended - self.arrived,
            upstream_s=0.0 if self.sent is None else ended - self.sent,
            status=status,
            refused_by=refused_by,
            request=None if self.request_text is None else json.loads(self.request_text),
            response=answer,
            cut=self.cut or answer_cut,
            usage=usage,
            usage_source=source,
            cost_usd=cost,
        )


class _Refused(Exception):
    """A request the proxy answers with an error before forwarding it."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class InFlight:
    """The bytes request bodies hold now (one event loop: no lock needed)."""

    def __init__(self, limit: int = IN_FLIGHT_BYTES) -> None:
        self.limit = limit
        self.used = 0

    def take(self, held: list[int], size: int) -> None:
        """Count ``size`` more bytes for a call (its tally in ``held``), or refuse the call."""
        if held[0] + size > self.limit:
            raise _Refused(413, "request_too_large", "request body too large once parsed")
        if self.used + size > self.limit:
            raise _Refused(503, "overloaded", "the proxy holds too many request bytes; retry")
        self.used += size
        held[0] += size

    def try_take(self, held: list[int], size: int) -> bool:
        """Count ``size`` more bytes for a call if they fit now (the transcript's copies, which
        are dropped, not refused, when they do not)."""
        if self.used + size > self.limit:
            return False
        self.used += size
        held[0] += size
        return True

    def give(self, held: list[int], size: int | None = None) -> None:
        """Give back ``size`` of a call's bytes (None: all of them)."""
        size = held[0] if size is None else size
        self.used -= size
        held[0] -= size


def parse_bound(raw: bytes) -> int:
    """A bound on the memory ``json.loads(raw)`` takes: the text it decodes and the strings it
    makes (4 bytes a character when one may lie outside the basic plane, else 1), and its
    containers and numbers (:data:`PARSED_BYTES_PER_TOKEN`)."""
    wide = not raw.isascii() or b"\\u" in raw
    tokens = raw.count(b",") + raw.count(b":") + raw.count(b"[") + raw.count(b"{")
    return (8 if wide else 2) * len(raw) + PARSED_BYTES_PER_TOKEN * tokens


async def _read_body(request: Any, pool: InFlight, held: list[int]) -> bytes:
    """The request's body, refused (413) from its declared size or as soon as it passes
    :data:`MAX_REQUEST_BYTES`; every chunk is counted in ``pool`` as it arrives."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_REQUEST_BYTES):
        raise _Refused(413, "request_too_large", "request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        if size + len(chunk) > MAX_REQUEST_BYTES:
            raise _Refused(413, "request_too_large", "request body too large")
        pool.take(held, len(chunk))
        chunks.append(chunk)
        size += len(chunk)
    pool.take(held, size)
    body = b"".join(chunks)
    chunks.clear()
    pool.give(held, size)
    return body


def _with_usage_reported(
    raw: bytes, body: dict[str, Any], pool: InFlight, held: list[int]
) -> bytes:
    """A streamed chat request that asks for its usage (``stream_options.include_usage``).

    Without it a chat stream reports no usage; the extra final chunk is standard. Added by
    splicing when the request has no ``stream_options`` (no second copy of the parsed body),
    else by writing the body again (its memory counted first).
    """
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return raw
    if options is None:
        pool.take(held, len(raw))
        start = raw.index(b"{") + 1
        return raw[:start] + b'"stream_options":{"include_usage":true},' + raw[start:]
    # json.dumps' ASCII text (6 bytes a character at most, and its pieces) and its bytes
    pool.take(held, 14 * len(raw))
    body["stream_options"] = {**(options if isinstance(options, dict) else {}),
                              "include_usage": True}  # fmt: skip
    return json.dumps(body).encode()


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


def create_app(grants: Grants, in_flight: InFlight | None = None) -> Any:
    """The Starlette application serving every live grant (request bodies held at once are
    bounded by ``in_flight``)."""
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    state: dict[str, httpx.AsyncClient] = {}
    pool = in_flight if in_flight is not None else InFlight()

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
        taken = [0]
        call = _Call(grant, api, pool) if api is not None else None
        try:
            return await send(request, grant, provider, path, call, taken)
        except _Refused as exc:
            if call is not None:
                pool.give(call.holds)  # never forwarded: never recorded
            refusal = _error(provider, exc.status, exc.kind, exc.message)
            # The rest of the body is never read: the connection ends after the answer, so a
            # client still sending is cut off instead of waiting on a full socket.
            refusal.headers["connection"] = "close"
            return refusal
        except ClientDisconnect:
            if call is not None:
                pool.give(call.holds)
            return Response(status_code=400)  # nobody reads it
        finally:
            pool.give(taken)  # the body has been sent upstream (or refused)

    async def send(
        request: Request,
        grant: Grant,
        provider: str,
        path: str,
        call: _Call | None,
        taken: list[int],
    ) -> Any:
        api = call.api if call is not None else None
        raw = await _read_body(request, pool, taken)
        held: Reservation | None = None
        if api is not None and call is not None:
            parsing = parse_bound(raw)
            pool.take(taken, parsing)
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):
                return _error(provider, 400, "invalid_request_error", "body is not JSON")
            if not isinstance(body, dict):
                return _error(provider, 400, "invalid_request_error", "body is not an object")
            stream = body.get("stream") is True
            if api == "chat" and stream:
                raw = _with_usage_reported(raw, body, pool, taken)
            model, cap = str(body.get("model", "")), _output_cap(api, body)
            call.model, call.stream = model, stream
            # Redacted and capped (BODY_BYTES): a bounded copy outlives the parsed body.
            call.keep_request(body)
            del body  # parsed: only the bytes go upstream
            pool.give(taken, parsing)
            try:
                held = grant.account.admit(api, model, stream, len(raw), cap)
            except Refused as exc:
                kind = "rate_limit_error" if provider == "anthropic" else "budget_exceeded"
                call.end(429, None, refused_by="budget")
                return _error(provider, 429, kind, f"the run's model budget is spent: {exc}")
        pool.take(taken, len(raw))  # the HTTP client's copy as it sends the body
        client = state["client"]
        url = f"{grant.upstream.rstrip('/')}/{path}"
        upstream_request = client.build_request(
            request.method,
            url,
            params=request.query_params,
            headers=_upstream_headers(request.headers, grant),
            content=raw if request.method == "POST" else None,
        )
        if call is not None:
            call.sent = time.monotonic()
        try:
            answer = await client.send(upstream_request, stream=True)
        except httpx.HTTPError as exc:
            if held is not None and call is not None:
                call.end(502, grant.account.settle(held, 502, None))
            return _error(provider, 502, "upstream_unreachable", f"{type(exc).__name__}")
        headers = {
            k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED_RESPONSE_HEADERS
        }
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            meter = StreamMeter(api) if api is not None else None
            keeper = None
            if grant.transcript is not None and call is not None:
                keeper = StreamKeeper(lambda size: pool.try_take(call.holds, size))

            async def relay() -> AsyncIterator[bytes]:
                try:
                    async for chunk in answer.aiter_raw():
                        if meter is not None:
                            meter.feed(chunk)
                        if keeper is not None:
                            keeper.feed(chunk)
                        yield chunk
                finally:
                    await answer.aclose()
                    if held is not None and call is not None:
                        usage = meter.usage if meter is not None else None
                        charged = grant.account.settle(held, answer.status_code, usage)
                        kept, cut = None, False
                        if keeper is not None and grant.transcript is not None:
                            kept, cut = grant.transcript.keep_answer(
                                held.api, True, keeper.text(), keeper.cut
                            )
                        call.end(answer.status_code, charged, kept, cut)

            return StreamingResponse(relay(), status_code=answer.status_code, headers=headers)
        try:
            content = await answer.aread()
        finally:
            await answer.aclose()
        if held is not None and call is not None:
            usage = None
            with contextlib.suppress(ValueError):
                usage = usage_of_answer(held.api, json.loads(content))
            charged = grant.account.settle(held, answer.status_code, usage)
            kept, cut = None, False
            if grant.transcript is not None:
                kept, cut = grant.transcript.keep_answer(held.api, False, content)
            call.end(answer.status_code, charged, kept, cut)
        return Response(content, status_code=answer.status_code, headers=headers)

    routes = [
        Route("/{provider:str}/v1/{path:path}", forward, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    return app
