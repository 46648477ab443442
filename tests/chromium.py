"""Headless Chromium driven over the DevTools protocol, for browser tests.

Why the DevTools pipe and no browser-automation package: Debian's ``chromium``
is the only browser CI can install (apt, from scripts/apt-packages.txt);
Playwright and Puppeteer want their own browser builds or Node at test time.
``--remote-debugging-pipe`` speaks the same protocol over file descriptors 3
and 4 (JSON messages ended by NUL), so the standard library is enough: no
port to race for, no websocket client, and the browser dies with its pipe.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
         "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe"]


def chromium_binary() -> str | None:
    """``/usr/bin/chromium`` if it is installed and runnable, else ``None`` (the caller skips)."""
    path = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    return path


def _above_four(fd: int) -> int:
    """The same pipe end on a descriptor > 4, so moving it onto 3 or 4 in the child cannot clobber another."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class CdpError(RuntimeError):
    """A DevTools command answered with an error, or the page threw."""


class Chromium:
    """One headless Chromium with a fresh profile; ``page()`` opens a tab to drive."""

    def __init__(self, profile: Path, binary: str = CHROMIUM, log_path: Path | None = None) -> None:
        self.profile = profile
        self.binary = binary
        self.log_path = log_path or profile.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None
        self._next_id = 0
        self._lock = threading.Lock()
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []

    # -- process ----------------------------------------------------------------------------------
    def start(self) -> Chromium:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        to_browser_r, from_browser_w = _above_four(to_browser_r), _above_four(from_browser_w)
        self.profile.mkdir(parents=True, exist_ok=True)
        # bash (dash takes one-digit fds only) moves our pipe ends onto fds 3 and 4,
        # where --remote-debugging-pipe expects them.
        script = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
        args = ["/bin/bash", "-c", script, self.binary, *FLAGS, f"--user-data-dir={self.profile}",
                "--window-size=1400,1000", "about:blank"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         pass_fds=(to_browser_r, from_browser_w), start_new_session=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        threading.Thread(target=self._read, name="cdp-reader", daemon=True).start()
        self.call("Browser.getVersion", timeout=30)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        with suppress(CdpError, OSError, TimeoutError):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        with suppress(OSError):
            os.close(self._to_browser)
        self.proc = None

    def __enter__(self) -> Chromium:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- protocol ---------------------------------------------------------------------------------
    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for raw in messages:
                    self._dispatch(json.loads(raw))

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            with self._lock:
                box = self._replies.get(message["id"])
            if box is not None:
                box.put(message)
        else:
            self.events.append(message)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30) -> dict[str, Any]:
        """Send one command and wait for its answer (its ``result``), raising on a protocol error."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            box: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1)
            self._replies[ident] = box
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        try:
            reply = box.get(timeout=timeout)
        except queue.Empty:
            alive = self.proc is not None and self.proc.poll() is None
            raise TimeoutError(f"{method}: no answer in {timeout}s (browser alive: {alive})") from None
        finally:
            with self._lock:
                self._replies.pop(ident, None)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def page(self, timezone: str | None = None, width: int = 1400, height: int = 1000) -> Page:
        """A new tab with Page/Runtime/Log/Network events on, optionally in a given time zone."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        if timezone:
            page.call("Emulation.setTimezoneOverride", {"timezoneId": timezone})
        return page


class Page:
    """One tab: navigate, evaluate JavaScript, poll for a condition, take a screenshot."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session, timeout=timeout)

    def events(self, method: str) -> list[dict[str, Any]]:
        """This tab's events named ``method`` so far (their ``params``)."""
        return [e["params"] for e in list(self.browser.events)
                if e.get("sessionId") == self.session and e.get("method") == method]

    def navigate(self, url: str) -> None:
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError(f"navigate {url}: {result['errorText']}")

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        """The value of a JavaScript expression (promises awaited), or CdpError with the page's exception."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"page threw: {text}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30, what: str = "") -> Any:
        """Poll a JavaScript expression until it is truthy (a deadline, not a sleep)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
            except CdpError as exc:  # e.g. no document.body yet while the navigation commits
                last = exc
            else:
                if last:
                    return last
            time.sleep(0.05)
        state = self.evaluate("document.body ? document.body.dataset.state : null")  # for the message
        raise AssertionError(f"timed out after {timeout}s waiting for {what or expression} "
                             f"(last value {last!r}, page state {state!r}, errors {self.errors()})")

    def errors(self) -> list[str]:
        """Uncaught exceptions, console errors and browser log errors (CSP violations land here)."""
        out = [e["exceptionDetails"].get("exception", {}).get("description") or e["exceptionDetails"]["text"]
               for e in self.events("Runtime.exceptionThrown")]
        out += [" ".join(str(a.get("value", a.get("description", ""))) for a in e.get("args", []))
                for e in self.events("Runtime.consoleAPICalled") if e.get("type") == "error"]
        out += [e["entry"]["text"] for e in self.events("Log.entryAdded") if e["entry"].get("level") == "error"]
        return out

    def requested_urls(self) -> list[str]:
        return [e["request"]["url"] for e in self.events("Network.requestWillBeSent")]

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (beyond the viewport), for a person to look at."""
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, timeout=60)
        path.write_bytes(base64.b64decode(data["data"]))
        return path
