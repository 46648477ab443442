"""The Flask application factory: extensions and blueprints, wired in one place.

It is also the HTTP process's composition root: the one module of ``app/``
that names the task system, plugging :class:`tasks.dispatch.TaskDispatcher`
into the service container so that blueprints start work through the
:class:`app.dispatch.Dispatcher` interface alone.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from flask_compress import Compress
from werkzeug.exceptions import HTTPException

from app.auth.service import AUTHENTICATED, Principal
from app.dispatch import NoDispatcher
from app.errors import ApiError, PayloadTooLarge, error_document
from app.fastpath import Encoder
from app.forms.fastread import CachedFormReads
from app.http import json_response, services
from app.observability import context
from app.observability import logging as fms_logging
from app.observability.metrics import HTTP_ERRORS, observe_request
from app.services import Services, build
from app.settings import Settings, load
from app.submissions.fastwrite import FastSubmissions
from tasks.dispatch import TaskDispatcher

log = logging.getLogger("app.access")
compress = Compress()


def create_app(settings: Settings | None = None, svc: Services | None = None) -> Flask:
    settings = settings or load()
    fms_logging.configure("api", settings.log_level, settings.log_levels)
    app = Flask(__name__, static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        COMPRESS_ALGORITHM=["gzip"],
        COMPRESS_MIN_SIZE=1024,
        COMPRESS_MIMETYPES=["application/json", "text/html", "text/csv", "application/x-ndjson", "text/plain"],
        JSON_SORT_KEYS=False,
    )
    app.extensions["fms"] = _plug(svc or build(settings))
    compress.init_app(app)
    _register_hooks(app)
    _register_errors(app)
    _register_blueprints(app)
    encode = _encoder(app)
    fast_writes = FastSubmissions(app.wsgi_app, app.extensions["fms"], log, settings.max_body_bytes, encode)
    app.wsgi_app = CachedFormReads(fast_writes, app.extensions["fms"], log, encode)  # type: ignore[method-assign]
    return app


def _encoder(app: Flask) -> Encoder:
    """Flask-Compress's choice and compression, for answers sent before Flask (the fast paths).

    Its own functions with the app's settings, so both paths compress alike (a test compares them).
    """
    from flask_compress.flask_compress import _choose_algorithm, _compress_data

    def encode(status: int, accept_encoding: str, body: bytes) -> tuple[str | None, bytes]:
        algorithm = _choose_algorithm(compress.enabled_algorithms, accept_encoding)
        if algorithm is None or not 200 <= status < 300 or len(body) < app.config["COMPRESS_MIN_SIZE"]:
            return None, body
        return algorithm, _compress_data(app, body, algorithm)

    return encode


def _plug(svc: Services) -> Services:
    """Give the container the task system's dispatcher, unless its builder plugged another in.

    The container is changed in place, so a caller that built ``svc`` and the
    app share one and the same set of services.
    """
    if isinstance(svc.dispatch, NoDispatcher):
        svc.dispatch = TaskDispatcher(svc.store, svc.settings)
    return svc


def _register_blueprints(app: Flask) -> None:
    from app.ai.api import bp as ai_bp
    from app.analytics.api import bp as analytics_bp
    from app.analytics.dashboard import bp as dashboard_bp
    from app.auth.api import bp as auth_bp
    from app.docs.api import bp as docs_bp
    from app.exports.api import bp as exports_bp
    from app.forms.api import bp as forms_bp
    from app.health.api import bp as health_bp
    from app.links.api import bp as links_bp
    from app.models.api import bp as models_bp
    from app.shares.api import bp as shares_bp
    from app.submissions.api import bp as submissions_bp
    from app.tasks_api.api import bp as tasks_bp
    from app.webhooks.api import bp as webhooks_bp

    for bp in (health_bp, docs_bp, auth_bp, forms_bp, submissions_bp, links_bp, tasks_bp, webhooks_bp, ai_bp, models_bp,
               shares_bp, analytics_bp, exports_bp, dashboard_bp):
        app.register_blueprint(bp)


def _register_hooks(app: Flask) -> None:
    @app.before_request
    def start() -> None:
        ctx = g._get_current_object()  # one proxy lookup, not one per use
        req = request._get_current_object()  # type: ignore[attr-defined]
        ctx.started = time.perf_counter()
        ctx.request_id = context.request_id_for(req.environ.get("HTTP_X_REQUEST_ID", ""))
        ctx.token = context.request_id.set(ctx.request_id)
        view = app.view_functions.get(req.endpoint or "")
        if view is not None and not getattr(view, "_fms_public", False):
            ctx.principal = _authenticated(req.environ)

    @app.after_request
    def finish(response: Response) -> Response:
        ctx = g._get_current_object()  # one proxy lookup, not one per use
        req = request._get_current_object()  # type: ignore[attr-defined]
        response.headers["X-Request-ID"] = ctx.get("request_id", "")
        elapsed = time.perf_counter() - ctx.get("started", time.perf_counter())
        endpoint = req.url_rule.rule if req.url_rule else "unmatched"
        status = response.status_code
        observe_request(endpoint, req.method, status, elapsed)
        fms_logging.access_log(log, req.method, req.path, status, round(elapsed * 1000, 2))
        return response

    @app.teardown_request
    def reset(_exc: BaseException | None) -> None:
        token = g.pop("token", None)
        if token is not None:
            context.request_id.reset(token)


def _authenticated(environ: dict[str, object]) -> Principal:
    """The caller, from a fast path's check of this very request when it made one
    (:data:`app.auth.service.AUTHENTICATED`), else from the credential now."""
    found = environ.get(AUTHENTICATED)
    if isinstance(found, ApiError):
        raise found
    if isinstance(found, Principal):
        return found
    return services().auth.authenticate(_bearer(str(environ.get("HTTP_AUTHORIZATION", ""))))


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _error_response(status: int, code: str, message: str, details: object, endpoint: str) -> Response:
    HTTP_ERRORS.labels(endpoint, code).inc()
    return json_response(error_document(code, message, details, g.get("request_id")), status)


def _register_errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        response = _error_response(exc.status, exc.code, exc.message, exc.details, endpoint)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="fms"'
        if getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 413:
            limit = app.config["MAX_CONTENT_LENGTH"]
            return api_error(PayloadTooLarge.field("", f"request body is larger than {limit} bytes"))
        code = (exc.name or "error").lower().replace(" ", "_")
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        response = _error_response(exc.code or 500, code, exc.description or exc.name, [], endpoint)
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        logging.getLogger("app.errors").exception("unhandled error")
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        return _error_response(500, "internal_error", "internal server error", [], endpoint)
