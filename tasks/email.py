"""E-mail over SMTP: submission notifications (form setting ``notify_emails``) and operator notices.

Idempotent per key: the send is recorded as done after the server accepted
it, so a redelivered message does not mail twice (a crash between the two
can, which is the at-least-once promise).
"""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from typing import Any

from app.forms.sensitive import redact, sensitive_fields
from app.settings import Settings
from app.util import now_iso
from tasks import metrics, runtime
from tasks.broker import actor
from tasks.errors import Permanent


def smtp_send(settings: Settings, recipients: list[str], subject: str, body: str) -> None:
    """Send one message; SMTP 4xx and connection errors are retryable, 5xx are not (see tasks.errors)."""
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.webhook_timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(msg)


def _send_once(key: str, recipients: list[str], subject: str, body: str) -> str:
    settings = runtime.settings()
    store: Any = runtime.services().store
    if not settings.smtp_host or not recipients:
        return "e-mail not configured"
    if store.is_done(key):
        return "already sent"
    try:
        smtp_send(settings, recipients, subject, body)
    except smtplib.SMTPRecipientsRefused as exc:
        metrics.EMAILS.labels("refused").inc()
        raise Permanent(f"recipients refused: {sorted(exc.recipients)}") from exc
    except Exception:
        metrics.EMAILS.labels("error").inc()
        raise
    store.mark_done(key, now_iso())
    metrics.EMAILS.labels("sent").inc()
    return f"sent to {len(recipients)}"


@actor("email.send")
def send_mail(recipients: list[str], subject: str, body: str, key: str) -> str:
    """A plain notice (e.g. a webhook endpoint was disabled)."""
    return _send_once(f"email:{key}", recipients, subject, body)


@actor("email.submission")
def submission_created(event: dict[str, Any]) -> str:
    """Tell the form's ``notify_emails`` about a new submission (sensitive fields redacted)."""
    store: Any = runtime.services().store
    form = store.get_form(event["key"])
    if form is None:
        return "form gone"
    recipients = list((form.get("settings") or {}).get("notify_emails") or [])
    data = dict((event.get("payload") or {}).get("data") or {})
    answers = redact(data.get("answers"), sensitive_fields(form))
    body = (f"A new submission arrived for form \"{form['title']}\".\n\n"
            f"Submission: {data.get('id')}\nReceived: {data.get('created_at')}\n\n"
            f"Answers:\n{json.dumps(answers, indent=2, ensure_ascii=False)}\n")
    return _send_once(f"email:{event['id']}", recipients, f"New submission: {form['title']}", body)
