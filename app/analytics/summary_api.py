"""``GET /api/v1/forms/{id}/analytics`` and ``.../analytics/timeseries``: summaries of a form's submissions.

Reading a summary needs what reading the form's submissions needs; sensitive
fields show counts only to callers who may not see them. The query-string
filters are the submissions list's (see :mod:`app.analytics.service`).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.analytics.service import AnalyticsService
from app.http import hidden_fields, json_response, require_form, services
from app.store import Record
from etl.analytics import summary_csv

bp = Blueprint("analytics_summary", __name__, url_prefix="/api/v1")


def _service() -> AnalyticsService:
    svc = services()
    return AnalyticsService.from_settings(svc.store, svc.cache, svc.settings, svc.cursors)


def _readable_form(form_id: str) -> Record:
    """The form, if the caller may read its submissions (per-form sharing: :mod:`app.auth.access`)."""
    return require_form(form_id, "read")


@bp.get("/forms/<form_id>/analytics")
def summary(form_id: str) -> Response:
    form = _readable_form(form_id)
    result, fmt = _service().summary(form, request.args, hidden_fields(form))
    if fmt == "csv":
        return Response(summary_csv(result), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="analytics-{form_id}.csv"', "Cache-Control": "no-store"})
    return json_response(result)


@bp.get("/forms/<form_id>/analytics/timeseries")
def timeseries(form_id: str) -> Response:
    form = _readable_form(form_id)
    return json_response(_service().timeseries(form, request.args, hidden_fields(form)))
