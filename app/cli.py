"""The ``fms`` command: administration without the HTTP API."""

from __future__ import annotations

import json
import secrets
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.settings import Settings, SettingsError, load, table

if TYPE_CHECKING:
    from app.services import Services


def _services() -> Services:
    from app.services import build

    return build(load())


@click.group()
def main() -> None:
    """fms: self-hosted form management with CPU-only AI."""


@main.group()
def admin() -> None:
    """Administrators."""


@admin.command("create")
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def admin_create(username: str, password: str) -> None:
    """Create an administrator."""
    svc = _services()
    user = svc.auth.create_user(username, password, "admin", actor="cli")
    click.echo(f"created admin {user['username']} ({user['id']})")


@main.group()
def apikey() -> None:
    """API keys."""


@apikey.command("create")
@click.option("--user", "username", required=True, help="User name; created with --role if missing.")
@click.option("--role", type=click.Choice(["admin", "editor", "viewer"]), default="viewer", show_default=True)
@click.option("--forms", default="", help="Comma-separated form ids the key is limited to.")
@click.option("--scope", type=click.Choice(["read", "write", "manage"]), default="read", show_default=True)
@click.option("--name", default="cli")
def apikey_create(username: str, role: str, forms: str, scope: str, name: str) -> None:
    """Create an API key and print it once."""
    svc = _services()
    user = svc.store.get_user_by_name(username)
    if user is None:
        user = svc.auth.create_user(username, secrets.token_urlsafe(32), role, actor="cli")
    elif user["role"] != role:
        raise click.ClickException(f"user {username} exists with role {user['role']}, not {role}")
    form_ids = [f for f in forms.split(",") if f] or None
    key, record = svc.auth.create_api_key(user["id"], scope, form_ids, name, actor="cli")
    click.echo(key)
    click.echo(f"id={record['id']} user={username} scope={scope} forms={form_ids or 'all'}", err=True)


@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; exit 1 at the first entry that does not match."""
    from app.audit import verify

    result = verify(_services().store)
    if result.ok:
        click.echo(f"audit chain ok: {result.checked} entries")
        return
    click.echo(f"audit chain BROKEN at seq {result.broken_seq}: {result.reason} "
               f"({result.checked} entries verified before it)", err=True)
    sys.exit(1)


@main.command()
def check() -> None:
    """Check configuration and connectivity to the store and Redis."""
    try:
        settings = load()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(settings.redacted(), indent=2))
    svc = _services()
    svc.store.ping()
    click.echo("store: ok")
    click.echo(f"redis: {'ok' if svc.cache.ping() else 'UNREACHABLE'}")


@main.command()
def bootstrap() -> None:
    """Migrate the store and create FMS_BOOTSTRAP_ADMIN if no user exists."""
    from app.bootstrap import bootstrap as run

    run(load())
    click.echo("bootstrap done")


@main.command()
@click.option("--check", is_flag=True, help="Only report; exit 1 when migrations are pending, 2 when too new.")
def migrate(check: bool) -> None:
    """Apply the store's pending numbered migrations (under the migration lock) and print from/to versions."""
    from app.store import SchemaError, connect_store

    store = connect_store(load())
    try:
        found, known = store.schema_status()
        if check:
            click.echo(f"{store.backend} schema at version {found}; this release knows {known}")
            if found != known:
                click.echo("newer than this release: refused" if found > known else "migrations pending", err=True)
                sys.exit(2 if found > known else 1)
            return
        try:
            click.echo(store.migrate().describe())
        except SchemaError as exc:
            raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


@main.command()
@click.option("--days", type=int, default=None, help="Default: FMS_DELETED_RETENTION_DAYS.")
def purge(days: int | None) -> None:
    """Hard-delete submissions soft-deleted more than DAYS ago and task records past
    FMS_TASK_RETENTION_DAYS (the hourly purge timer, app/process_tree.py)."""
    from app.util import now_iso

    svc = _services()
    count = svc.submissions.purge(days if days is not None else svc.settings.deleted_retention_days)
    tasks = svc.store.purge_tasks(now_iso(-svc.settings.task_retention_days * 86400))
    click.echo(f"purged {count} submissions and {tasks} task records")


@main.command("export")
@click.argument("form_id", required=False)
@click.option("--date", "day", default=None,
              help="UTC day YYYY-MM-DD (default: the day due, yesterday once the grace after midnight passed).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet", "xlsx"]), default=None,
              help="With FORM_ID: the file format (default csv).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With FORM_ID: the file to write (required).")
@click.option("--include-sensitive", is_flag=True, help="Keep fields marked sensitive (default: redacted).")
def export_cmd(form_id: str | None, day: str | None, fmt: str | None, out: Path | None,
               include_sensitive: bool) -> None:
    """Export one day's submissions to JSONL and Parquet under <data_dir>/exports, or with FORM_ID
    every submission of that form to one file (--format, --out)."""
    from datetime import date

    from etl.export import due_day, export_day

    if form_id is not None:
        if day is not None:
            raise click.UsageError("--date is for the daily export; FORM_ID exports every submission")
        if out is None:
            raise click.UsageError("FORM_ID needs --out FILE")
        _export_form(form_id, fmt or "csv", out, include_sensitive)
        return
    if fmt is not None or out is not None:
        raise click.UsageError("--format and --out need FORM_ID")
    try:
        when = date.fromisoformat(day) if day else due_day()
    except ValueError as exc:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--date") from exc
    svc = _services()
    results = export_day(svc.store, when, svc.settings.data_dir / "exports", include_sensitive)
    for r in results:
        click.echo(f"{r.form_id}: {r.rows} rows -> {r.parquet}")
    click.echo(f"exported {sum(r.rows for r in results)} submissions of {when} from {len(results)} forms")


def _export_form(form_id: str, fmt: str, out: Path, include_sensitive: bool) -> None:
    """Stream a form's submissions into ``out`` (written aside, renamed when whole), with a progress bar."""
    import os

    from app.store import SubmissionQuery
    from etl.stream import export_stream

    svc = _services()
    form = svc.store.get_form(form_id)
    if form is None:
        raise click.ClickException(f"form {form_id} not found")
    hide = frozenset() if include_sensitive else frozenset(form.get("sensitive") or ())
    query = SubmissionQuery(form_id=form_id)
    total = svc.store.count_submissions(query)
    part = out.with_name(out.name + ".part")
    done = 0
    try:
        with click.progressbar(length=total, label=f"exporting {total} submissions", file=sys.stderr) as bar, \
                part.open("wb") as fh:
            def tick(n: int) -> None:
                nonlocal done
                done += n
                bar.update(n)

            for chunk in export_stream(svc.store, form, query, fmt, hide, tmp_dir=out.parent, on_rows=tick):
                fh.write(chunk)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    click.echo(f"exported {done} submissions of form {form_id} to {out} ({fmt})")


@main.command("analytics")
@click.argument("form_id")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--split-by", default=None, help="An enum or boolean field to break the summary down by.")
@click.option("--include-sensitive", is_flag=True, help="Summarise sensitive fields too (default: counts only).")
def analytics_cmd(form_id: str, fmt: str, split_by: str | None, include_sensitive: bool) -> None:
    """Print a form's summary: the figures of GET /api/v1/forms/FORM_ID/analytics (and its cache)."""
    from app.analytics.service import AnalyticsService
    from app.errors import ApiError
    from etl.analytics import summary_csv

    svc = _services()
    try:
        form = svc.forms.get(form_id)
        hide = frozenset() if include_sensitive else frozenset(form.get("sensitive") or ())
        args = {"split_by": split_by} if split_by else {}
        service = AnalyticsService.from_settings(svc.store, svc.cache, svc.settings, svc.cursors)
        result = service.compute("summary", form, args, hide)  # here, whatever the form's size
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    text = summary_csv(result) if fmt == "csv" else json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    click.echo(text, nl=False)


@main.group()
def config() -> None:
    """Configuration."""


@config.command("table")
def config_table() -> None:
    """Print the README's configuration table."""
    click.echo(table())


@main.group()
def render() -> None:
    """Render the process tree into service-manager configuration."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@render.command("supervisor")
@click.option("--out", type=click.Path(path_type=Path), default=None)
@click.option("--redis-port", type=int, default=0, help="Port for the embedded Redis (0: pick a free one).")
@click.option("--reference", is_flag=True, help="Render the committed supervisor/fms.conf (a reference host).")
def render_supervisor(out: Path | None, redis_port: int, reference: bool) -> None:
    """Write the supervisord config for this checkout (and redis.conf when embedded)."""
    from app.render.supervisor import Context, redis_conf, reference_context
    from app.render.supervisor import render as render_conf

    if reference:
        text = render_conf(reference_context())
        if out is None:
            click.echo(text, nl=False)
        else:
            out.write_text(text)
        return

    settings: Settings = load()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    embedded = not settings.redis_url
    port = redis_port or free_port()
    if embedded:
        (data_dir / "redis.conf").write_text(redis_conf(data_dir, port))
    ctx = Context.here(data_dir, port, embedded)
    text = render_conf(ctx)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"redis://127.0.0.1:{port}/0" if embedded else settings.redis_url)


# --- tasks (tasks helper) ------------------------------------------------------
@main.command()
@click.option("--once", is_flag=True, help="Move one batch and exit (scripts, tests).")
def relay(once: bool) -> None:
    """Move outbox events into the broker, forever (the `relay` process); under supervisord it also
    runs the process tree's timers named in FMS_TIMERS (set by `fms render supervisor`)."""
    import os
    import signal

    settings = load()
    # as in tasks.worker: before prometheus_client loads, so the relay's counters land in files
    # the API's /metrics merges, not in a registry nobody scrapes
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.prometheus_dir))
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    from app.observability import logging as fms_logging
    from tasks.broker import configure
    from tasks.registry import load_actors
    from tasks.relay import Relay
    from tasks.timers import Scheduler

    load_actors()
    fms_logging.configure("relay", settings.log_level, settings.log_levels)
    svc = _services()
    scheduler = None if once else Scheduler.from_names(os.environ.get("FMS_TIMERS", ""), settings.data_dir)
    loop = Relay(svc.store, configure(settings, svc), settings.relay_batch, settings.relay_interval, scheduler)
    if once:
        click.echo(f"moved {loop.run_once()} events")
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: loop.stop.set())
    loop.run()


@main.command()
def embedder() -> None:
    """Embed `similar` queries for every API worker on a Unix socket (the `embedder` process)."""
    import signal
    import threading

    from app.ai.service import embedder_socket, model_paths
    from app.observability import logging as fms_logging
    from inference.embed_server import serve

    settings = load()
    fms_logging.configure("embedder", settings.log_level, settings.log_levels)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    paths = model_paths(settings)
    serve(embedder_socket(settings), paths["embedder"], paths["tokenizer"], threads=1, stop=stop)


@main.group()
def tasks() -> None:
    """Task records: dead tasks and replay."""


@tasks.command("dead")
@click.option("--limit", type=int, default=100, show_default=True)
def tasks_dead(limit: int) -> None:
    """List dead tasks (retries exhausted), newest first, one JSON object a line."""
    from app.tasks_api.service import TaskService

    jobs = TaskService(_services().store)
    for rec in jobs.dead(limit):
        click.echo(json.dumps(jobs.summary(rec)))


@tasks.command("replay")
@click.argument("task_id")
def tasks_replay(task_id: str) -> None:
    """Enqueue a dead, failed or cancelled task again (through the outbox while Redis is down)."""
    from app.errors import ApiError
    from app.tasks_api.service import TaskService
    from tasks.broker import configure
    from tasks.dispatch import TaskDispatcher

    svc = _services()
    try:
        rec = TaskService(svc.store).prepare_retry(task_id)
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    from tasks.registry import load_actors

    configure(svc.settings, svc)
    load_actors()
    if TaskDispatcher(svc.store, svc.settings).replay(rec["message"]):
        click.echo(f"replayed {task_id} ({rec['actor']})")
    else:  # the record is queued already: without the outbox it would wait for a message that never comes
        click.echo(f"replayed {task_id} ({rec['actor']}); Redis is down, so it waits in the outbox for the relay")
# --- end tasks -----------------------------------------------------------------


# --- models (AI integration) -----------------------------------------------------
@main.group()
def models() -> None:
    """The model registry and benchmarks."""


@models.command("list")
def models_list() -> None:
    """Registered models, one JSON object per line."""
    from app.models.service import ModelService, public_model

    svc = _services()
    for rec in ModelService(svc.store, svc.settings).list():
        click.echo(json.dumps(public_model(rec)))


@models.command("add")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Display name (default: the file name).")
def models_add(path: Path, name: str | None) -> None:
    """Register a GGUF or ONNX file (format, sha256 and shapes are read from the file)."""
    from app.errors import ApiError
    from app.models.service import ModelService, public_model

    svc = _services()
    try:
        rec = ModelService(svc.store, svc.settings).register_path(str(path.resolve()), name, "cli")
    except ApiError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    click.echo(json.dumps(public_model(rec)))


@models.command("bench")
@click.argument("model")
@click.option("--threads", default="", help="Comma-separated thread counts (default: 1 and the AI cores).")
@click.option("--n-batch", default="256", show_default=True, help="Comma-separated batch sizes (GGUF).")
@click.option("--levels", default="all,disable", show_default=True, help="Graph optimisation levels (ONNX).")
@click.option("--reps", type=int, default=5, show_default=True)
@click.option("--constraint", "constraints", multiple=True, help="e.g. p95_ms<2000 (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write JSON, CSV, HTML and text reports here.")
def models_bench(model: str, threads: str, n_batch: str, levels: str, reps: int, constraints: tuple[str, ...],
                 out: Path | None) -> None:
    """Benchmark a registered model (id) or a model file (path, registered first) and print the report."""
    from app.models.service import ModelService
    from app.util import new_id
    from inference.bench import BenchReport, write_report

    svc = _services()
    models_svc = ModelService(svc.store, svc.settings)
    if Path(model).is_file():
        model = models_svc.register_path(str(Path(model).resolve()), None, "cli")["id"]
    bench_id = new_id()
    data = models_svc.run_benchmark(
        model, bench_id, threads=[int(t) for t in threads.split(",") if t] or None,
        n_batch=[int(b) for b in n_batch.split(",") if b], levels=[v for v in levels.split(",") if v], reps=reps,
        constraints=list(constraints) or None, created_by="cli",
        on_progress=lambda m: click.echo(f"[{m['done']}/{m['of']}] {m.get('label', '')}", err=True))
    report = BenchReport(**data)
    click.echo(report.technical_text())
    click.echo(report.simple_text())
    click.echo(f"benchmark id: {bench_id}")
    if out is not None:
        for kind, path in write_report(report, out).items():
            click.echo(f"wrote {kind}: {path}", err=True)
# --- end models ------------------------------------------------------------------


if __name__ == "__main__":
    main()
