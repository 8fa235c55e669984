"""The FastAPI app: ``create_app(settings)`` builds one instance with its own model and metrics.

Concurrency: the prediction routes are plain ``def`` functions, so FastAPI runs each in its
worker threadpool (40 threads). Model inference and the APP_CPU_WORK_MS busy loop therefore
run side by side and share the process's CPU (and Python's GIL): N concurrent requests each
take about N times longer, as on a saturated pod. Probes and /metrics are ``async`` and stay
on the event loop, so they answer while the threads are busy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import contextlib
import logging
import time
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.bodylimit import BodyLimitMiddleware, body_limit
from app.metrics import Metrics, MetricsMiddleware, new_metrics
from app.model import SentimentModel, load_model
from app.schemas import InferRequest, InferResponse, PredictRequest, PredictResponse
from app.settings import Settings
from app.work import infer_texts

log = logging.getLogger("app")


@dataclass
class ModelState:
    """What the probes report: loading -> loaded -> ready (or failed)."""

    model: SentimentModel | None = None
    ready: bool = False
    error: str | None = None
    ready_at: float = 0.0  # monotonic time the start-up delay ends

    def status(self) -> str:
        if self.error:
            return f"model failed to load: {self.error}"
        if self.model is None:
            return "loading model"
        if not self.ready:
            return f"starting: {max(0.0, self.ready_at - time.monotonic()):.1f} s of start-up delay left"
        return "ready"


async def _load(settings: Settings, state: ModelState, metrics: Metrics) -> None:
    """Load the model off the event loop, then wait out the rest of the start-up delay."""
    try:
        state.model = await asyncio.to_thread(load_model, settings.model_path)
    except Exception as e:  # noqa: BLE001 - any load failure must show on the probes
        state.error = f"{settings.model_path}: {type(e).__name__}: {e}"
        log.error("%s", state.error)
        return
    metrics.model_loaded.set(1)
    await asyncio.sleep(max(0.0, state.ready_at - time.monotonic()))
    state.ready = True
    metrics.ready.set(1)
    log.info("model %s ready (%s)", settings.model_name, settings.model_path)


def _validation_message(errors) -> str:
    return "; ".join(".".join(str(p) for p in e.get("loc", ())) + f": {e.get('msg')}"
                     for e in errors)


def _too_many(field: str, n: int, settings: Settings) -> RequestValidationError:
    return RequestValidationError([{
        "type": "too_long", "loc": ("body", field),
        "msg": f"List should have at most {settings.max_texts} items, not {n} "
               f"(the limit is APP_MAX_TEXTS={settings.max_texts})"}])


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the model loads in the background once the server starts."""
    settings = settings or Settings.from_env()
    metrics = new_metrics()
    state = ModelState()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        state.ready_at = time.monotonic() + settings.startup_delay_s
        task = asyncio.create_task(_load(settings, state, metrics))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="labkit sentiment app", lifespan=lifespan,
                  description="A TF-IDF + logistic regression movie-review sentiment model.")
    app.state.settings, app.state.metrics, app.state.model_state = settings, metrics, state
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # outermost: an oversized body is refused before any layer reads it
    app.add_middleware(BodyLimitMiddleware, limit=body_limit(settings.max_texts))

    @app.exception_handler(RequestValidationError)
    async def unprocessable(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: e[k] for k in ("type", "loc", "msg") if k in e} for e in exc.errors()]
        message = f"invalid request body: {_validation_message(errors)}"
        if "json" not in request.headers.get("content-type", ""):
            message += " (send the body as JSON, with the header Content-Type: application/json)"
        return JSONResponse(status_code=422, content={"message": message, "detail": errors})

    def not_ready() -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": f"not ready: {state.status()}"})

    def infer(texts: list[str]) -> list[list[float]]:
        return infer_texts(state.model, texts, settings.cpu_work_ms)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """Liveness: 200 while the process serves, 503 if the model failed to load."""
        return JSONResponse(status_code=503 if state.error else 200,
                            content={"status": state.status() if state.error else "alive"})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: 200 once the model is loaded and APP_STARTUP_DELAY_S has passed."""
        return JSONResponse(status_code=200 if state.ready else 503,
                            content={"status": state.status()})

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/predict", response_model=PredictResponse)
    def predict(body: PredictRequest):
        """``{"text": [...]}`` -> ``{"probs": [[P(negative), P(positive)], ...]}``."""
        if len(body.text) > settings.max_texts:
            raise _too_many("text", len(body.text), settings)
        if not state.ready:
            return not_ready()
        return {"probs": infer(body.text)}

    @app.get("/v1/models")
    async def list_models() -> dict:
        """KServe V1: the names this server serves."""
        return {"models": [settings.model_name]}

    def unknown(name: str) -> JSONResponse | None:
        if name == settings.model_name:
            return None
        return JSONResponse(status_code=404, content={
            "error": f"model {name!r} not found; this server serves {settings.model_name!r} "
                     "(set by MODEL_NAME)"})

    @app.get("/v1/models/{name}")
    async def model_ready(name: str) -> JSONResponse:
        """KServe V1 readiness: 200 ``{"name", "ready": true}`` when ready, 503 before."""
        return unknown(name) or JSONResponse(status_code=200 if state.ready else 503,
                                             content={"name": name, "ready": state.ready})

    @app.post("/v1/models/{name}:predict", response_model=InferResponse)
    def model_predict(name: str, body: InferRequest):
        """KServe V1: ``{"instances": [...]}`` -> ``{"predictions": [[p0, p1], ...]}``."""
        if (missing := unknown(name)) is not None:
            return missing
        if len(body.instances) > settings.max_texts:
            raise _too_many("instances", len(body.instances), settings)
        if not state.ready:
            return not_ready()
        return {"predictions": infer(body.instances)}

    add_job_routes(app, settings)
    return app


def add_job_routes(app: FastAPI, settings: Settings) -> None:
    """The asynchronous mode: ``POST /jobs``, ``GET /jobs/{id}``, ``GET /queue`` (app/jobs.py).

    The routes need no model: any replica (even one still loading) can enqueue. Without
    APP_REDIS_URL they answer 503 saying how to turn the mode on.
    """
    from app.jobs import UNAVAILABLE, JobQueue, QueueFull

    queue = JobQueue.from_url(settings.redis_url, settings.queue_name) \
        if settings.redis_url else None

    def unavailable(detail: str) -> JSONResponse:
        return JSONResponse(status_code=503, headers={"Retry-After": "1"}, content={
            "detail": detail})

    def call(fn):
        if queue is None:
            return None, unavailable(
                "asynchronous mode is off: set APP_REDIS_URL (e.g. redis://127.0.0.1:6379/0) "
                "and run `python -m app.worker` beside the app")
        try:
            return fn(queue), None
        except UNAVAILABLE as e:
            return None, unavailable(f"queue unavailable: cannot reach Redis at "
                                     f"{settings.redis_url} ({type(e).__name__}); retry later")

    @app.post("/jobs", status_code=202)
    def enqueue(body: PredictRequest):
        """``{"text": [...]}`` -> 202 ``{"id", "status": "queued", "result_url"}`` at once."""
        if len(body.text) > settings.max_texts:
            raise _too_many("text", len(body.text), settings)
        try:
            job_id, failed = call(lambda q: q.enqueue(body.text, max_queue=settings.max_queue))
        except QueueFull as e:
            return JSONResponse(status_code=429, headers={"Retry-After": "1"}, content={
                "detail": f"{e} (APP_MAX_QUEUE={settings.max_queue}); retry later"})
        if failed is not None:
            return failed
        url = f"/jobs/{job_id}"
        return JSONResponse(status_code=202, headers={"Location": url},
                            content={"id": job_id, "status": "queued", "result_url": url})

    @app.get("/jobs/{job_id}")
    def job_result(job_id: str):
        """The job: status queued|running|done|failed, attempts, times, result or error."""
        job, failed = call(lambda q: q.get(job_id))
        if failed is not None:
            return failed
        if job is None:
            return JSONResponse(status_code=404, content={
                "detail": f"no job {job_id!r}: unknown, or its result expired after "
                          f"APP_RESULT_TTL_S={settings.result_ttl_s} s"})
        return job

    @app.get("/queue")
    def queue_stats():
        """Waiting jobs (what KEDA reads), jobs in progress, oldest wait, counters."""
        stats, failed = call(lambda q: q.stats())
        return failed if failed is not None else dataclasses.asdict(stats)
