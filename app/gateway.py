"""An always-on HTTP gateway in front of the app, for the KEDA variant (manifests/keda/).

An app scaled to zero can neither report its own load nor receive the request that should
wake it. This proxy plays the part of the KEDA HTTP add-on's interceptor
(spec/autoscalers.md §4.8) [KH]:

- every request except its own ``/stats`` and ``/healthz`` is forwarded to ``APP_UPSTREAM``;
- while the upstream refuses connections or answers 503 (no ready pod), the request is
  *held* and retried every ``GATEWAY_RETRY_INTERVAL_S`` until ``GATEWAY_HOLD_TIMEOUT_S``, then
  answered 504;
- ``GET /stats`` returns ``{"in_flight", "pending", "requests_total", "rps_1m"}`` for KEDA's
  metrics-api trigger (``pending`` = held requests; ``in_flight`` includes them).

Simplifies: one upstream, no routing by host; the whole body is buffered (requests are small).
Run it with ``python -m app.gateway``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.bodylimit import BodyLimitMiddleware, body_limit

# Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus the ones httpx recomputes.
_HOP_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                "trailer", "transfer-encoding", "upgrade", "host", "content-length",
                "content-encoding"}
RATE_WINDOW_S = 60.0


@dataclass(frozen=True)
class GatewaySettings:
    """The gateway's knobs and their environment variables (defaults in brackets).

    ``APP_UPSTREAM`` [http://app-fastapi:8080], ``GATEWAY_HOLD_TIMEOUT_S`` [60],
    ``GATEWAY_RETRY_INTERVAL_S`` [0.25], ``GATEWAY_UPSTREAM_TIMEOUT_S`` [60] (one answer),
    ``GATEWAY_HOST`` [127.0.0.1; the manifest sets 0.0.0.0], ``GATEWAY_PORT`` [8080],
    ``APP_MAX_TEXTS`` [1000; the app's own limit, which sizes the largest body forwarded].
    """

    upstream: str = "http://app-fastapi:8080"
    hold_timeout_s: float = 60.0
    retry_interval_s: float = 0.25
    upstream_timeout_s: float = 60.0
    host: str = "127.0.0.1"
    port: int = 8080
    max_texts: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "GatewaySettings":
        """Read the environment; a malformed value stops the start with a clear message."""
        env = os.environ if environ is None else environ
        names = {"upstream": "APP_UPSTREAM", "hold_timeout_s": "GATEWAY_HOLD_TIMEOUT_S",
                 "retry_interval_s": "GATEWAY_RETRY_INTERVAL_S",
                 "upstream_timeout_s": "GATEWAY_UPSTREAM_TIMEOUT_S", "host": "GATEWAY_HOST",
                 "port": "GATEWAY_PORT", "max_texts": "APP_MAX_TEXTS"}
        values: dict = {}
        for key, var in names.items():
            if var not in env:
                continue
            raw = env[var].strip()
            try:
                value = int(raw) if key in ("port", "max_texts") else raw if key in ("upstream", "host") else float(raw)
            except ValueError:
                raise ValueError(f"{var}={raw!r} is not a number; e.g. {var}={getattr(cls, key)}") from None
            if key in ("hold_timeout_s", "upstream_timeout_s", "retry_interval_s") and not value > 0:
                raise ValueError(f"{var}={raw!r} must be above 0 seconds")
            if key == "max_texts" and not value > 0:
                raise ValueError(f"{var}={raw!r} must be at least 1")
            if key == "upstream" and not raw.startswith(("http://", "https://")):
                raise ValueError(f"{var}={raw!r} must be a URL such as http://app-fastapi:8080")
            values[key] = value
        return cls(**values)


@dataclass
class Counters:
    """What ``/stats`` reports. Mutated only on the event loop, so no lock is needed."""

    in_flight: int = 0
    pending: int = 0
    requests_total: int = 0
    arrivals: deque = field(default_factory=deque)

    def arrive(self, now: float) -> None:
        self.requests_total += 1
        self.arrivals.append(now)

    def snapshot(self, now: float) -> dict:
        while self.arrivals and self.arrivals[0] <= now - RATE_WINDOW_S:
            self.arrivals.popleft()
        return {"in_flight": self.in_flight, "pending": self.pending,
                "requests_total": self.requests_total,
                "rps_1m": round(len(self.arrivals) / RATE_WINDOW_S, 3)}


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    """The gateway as an ASGI app (served by uvicorn in :func:`main`)."""
    s = settings or GatewaySettings.from_env()
    counters = Counters()
    upstream = s.upstream.rstrip("/")
    client: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette):
        timeout = httpx.Timeout(s.upstream_timeout_s, connect=min(2.0, s.upstream_timeout_s))
        async with httpx.AsyncClient(timeout=timeout) as c:
            client["c"] = c
            yield

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse(counters.snapshot(time.monotonic()))

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "alive", "upstream": upstream})

    async def proxy(request: Request) -> Response:
        body = await request.body()
        loop = asyncio.get_running_loop()
        start = loop.time()
        url = upstream + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        counters.arrive(time.monotonic())
        counters.in_flight += 1
        held = False
        try:
            while True:
                # Retry only what never reached a ready app: a refused connection or a 503.
                try:
                    r = await client["c"].request(request.method, url, content=body, headers=headers)
                    if r.status_code != 503:
                        out = {k: v for k, v in r.headers.items() if k.lower() not in _HOP_HEADERS}
                        if held:
                            out["x-gateway-held-seconds"] = f"{loop.time() - start:.3f}"
                        return Response(r.content, status_code=r.status_code, headers=out)
                    why = "answered 503 (no ready pod yet)"
                except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                    why = f"refused the connection ({type(e).__name__})"
                except httpx.PoolTimeout:
                    return _error(503, f"gateway busy: no free connection to {upstream} within "
                                       f"{s.upstream_timeout_s:g} s; retry shortly")
                except httpx.TimeoutException as e:
                    return _error(504, f"gateway timeout: {upstream} accepted the request but did "
                                       f"not answer within {s.upstream_timeout_s:g} s "
                                       f"({type(e).__name__}); the pod may be overloaded or "
                                       "stopping (GATEWAY_UPSTREAM_TIMEOUT_S)")
                except httpx.TransportError as e:
                    return _error(502, f"bad gateway: the connection to {upstream} broke before "
                                       f"a full answer ({type(e).__name__}), e.g. a pod stopped "
                                       "during scale-in; retry the request")
                if not held:
                    held = True
                    counters.pending += 1
                remaining = s.hold_timeout_s - (loop.time() - start)
                if remaining <= 0:
                    return JSONResponse(status_code=504, content={"detail": (
                        f"gateway timeout: held the request {s.hold_timeout_s:g} s, but {upstream} "
                        f"{why}. The app has no ready pod: check `kubectl get pods -l app=app-fastapi` "
                        "and `kubectl get scaledobject`, or raise GATEWAY_HOLD_TIMEOUT_S if cold "
                        "starts take longer")})
                await asyncio.sleep(min(s.retry_interval_s, remaining))
        finally:
            counters.in_flight -= 1
            if held:
                counters.pending -= 1

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    routes = [Route("/stats", stats, methods=["GET"]), Route("/healthz", healthz, methods=["GET"]),
              Route("/{path:path}", proxy, methods=methods)]
    # The gateway buffers each body to forward it: refuse what the app would refuse anyway.
    return Starlette(routes=routes, lifespan=lifespan,
                     middleware=[Middleware(BodyLimitMiddleware, limit=body_limit(s.max_texts))])


def _error(status: int, detail: str) -> JSONResponse:
    """The gateway's own error answers: JSON with a ``detail``, like its 504 on hold."""
    return JSONResponse(status_code=status, content={"detail": detail})


def main() -> None:
    """``python -m app.gateway``: serve on ``GATEWAY_HOST:GATEWAY_PORT`` with uvicorn."""
    import uvicorn

    try:
        settings = GatewaySettings.from_env()
    except ValueError as e:
        raise SystemExit(f"app.gateway: {e}") from None
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", access_log=False)


if __name__ == "__main__":
    main()
