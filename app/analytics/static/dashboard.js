/*
 * fms analytics dashboard.
 *
 * The page itself is public; every figure comes from the authenticated JSON API
 * (GET /api/v1/forms/{id}/analytics and .../analytics/timeseries) with the Bearer
 * token from POST /api/v1/auth/login, kept in sessionStorage (gone with the tab).
 * The page computes nothing itself: it shows the API's numbers, so they cannot
 * disagree with the JSON.
 *
 * Hygiene: no inline handlers (the CSP forbids them), and every value from the
 * API is put into the DOM with textContent / createTextNode, never innerHTML, so
 * a form title or an answer is always text, never markup.
 */
"use strict";

(() => {
  const TOKEN_KEY = "fms.dashboard.token";
  const EXPIRES_KEY = "fms.dashboard.expires_at";
  const USER_KEY = "fms.dashboard.username";
  const STATUSES = ["draft", "submitted", "in_review", "approved", "rejected", "quarantined"];
  const PALETTE = ["#2f6fdb", "#12b76a", "#f79009", "#7a5af8", "#f04438", "#0ba5ec", "#ee46bc", "#667085",
                   "#84cc16", "#a15c07"];
  const STATUS_COLOURS = {draft: "#98a2b3", submitted: "#2f6fdb", in_review: "#f79009", approved: "#12b76a",
                          rejected: "#f04438", quarantined: "#7a5af8"};
  const MAX_FORM_PAGES = 50;
  const COMPUTE_TRIES = 60;  // a queued summary answered 202 is asked for again this often (~5 min at 5 s)
  const NUM = new Intl.NumberFormat("en-US", {maximumFractionDigits: 3});
  const EDGE = new Intl.NumberFormat("en-US", {maximumFractionDigits: 1});
  const charts = [];
  let forms = [];
  let loadSeq = 0;

  const $ = (id) => document.getElementById(id);

  /** Build an element; children that are not Nodes become text nodes (escaped by construction). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setState(state) {
    document.body.dataset.state = state;
  }

  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") return NUM.format(value);
    return String(value);
  }

  function fmtPct(pct) {
    if (typeof pct !== "number") return "–";
    return `${pct.toFixed(1)}%`;
  }

  // --- API -----------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      const err = (body && body.error) || {};
      super(err.message || `HTTP ${status}`);
      this.status = status;
      this.code = err.code || "http_error";
      this.details = Array.isArray(err.details) ? err.details : [];
      this.requestId = err.request_id || null;
    }
  }

  function token() {
    const value = sessionStorage.getItem(TOKEN_KEY);
    const expires = sessionStorage.getItem(EXPIRES_KEY);
    if (value && expires && Date.parse(expires) <= Date.now()) {
      forgetToken();
      return null;
    }
    return value;
  }

  function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(EXPIRES_KEY);
    sessionStorage.removeItem(USER_KEY);
  }

  async function api(path, options = {}) {
    const headers = {Accept: "application/json"};
    const bearer = token();
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const init = {method: options.method || "GET", headers, credentials: "omit"};
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    const resp = await fetch(path, init);
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      body = null;
    }
    if (resp.status === 401 && path !== "/api/v1/auth/login") {
      forgetToken();
      showLogin("Your session has ended; please log in again.");
    }
    if (!resp.ok) throw new ApiError(resp.status, body);
    return body;
  }

  /**
   * A summary or time series. For a big form the first answer is 202 while a worker computes it
   * (body: form_id, retry_after, and task_id only for whoever started the task: a request sharing
   * someone else's has none); the same GET after retry_after seconds answers 200 from the cache.
   * A result always says as_of. Gives up after COMPUTE_TRIES or when a newer load (seq) started.
   */
  async function computed(path, seq) {
    for (let tries = 1; ; tries++) {
      const body = await api(path);
      if (!body || body.as_of !== undefined || body.retry_after === undefined) return body;
      if (seq !== loadSeq) return body;  // superseded: the caller drops it
      if (tries >= COMPUTE_TRIES) {
        throw new ApiError(503, {error: {code: "still_computing",
                                         message: "The summary is still being computed; try again shortly."}});
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 * (body.retry_after || 5)));
    }
  }

  // --- errors --------------------------------------------------------------------------------------

  function showError(err) {
    const box = $("error");
    box.replaceChildren();
    if (!err) {
      box.hidden = true;
      return;
    }
    box.append(el("strong", {}, err.message || String(err)));
    for (const d of err.details || []) {
      const where = d.parameter || d.pointer || d.field || "";
      box.append(el("div", {"data-detail": where}, where ? `${where}: ${d.message}` : d.message));
    }
    if (err.requestId) box.append(el("div", {class: "muted"}, `request ${err.requestId}`));
    box.hidden = false;
  }

  // --- login ---------------------------------------------------------------------------------------

  function showLogin(message) {
    $("app-panel").hidden = true;
    $("logout").hidden = true;
    $("whoami").textContent = "";
    $("login-panel").hidden = false;
    const old = $("login-panel").querySelector(".error");
    if (old) old.remove();
    if (message) $("login-panel").append(el("p", {class: "error", role: "alert"}, message));
    setState("login");
    $("login-username").focus();
  }

  async function onLogin(event) {
    event.preventDefault();
    const username = $("login-username").value;
    const password = $("login-password").value;
    try {
      const body = await api("/api/v1/auth/login", {method: "POST", body: {username, password}});
      sessionStorage.setItem(TOKEN_KEY, body.token);
      sessionStorage.setItem(EXPIRES_KEY, body.expires_at);
      sessionStorage.setItem(USER_KEY, username);
      $("login-password").value = "";
      await startApp(username);
    } catch (err) {
      showLogin(err.message);
    }
  }

  function onLogout() {
    forgetToken();
    destroyCharts();
    $("results").hidden = true;
    showLogin("");
  }

  // --- forms and filters ---------------------------------------------------------------------------

  async function loadForms() {
    const all = [];
    let cursor = null;
    for (let page = 0; page < MAX_FORM_PAGES; page++) {
      const params = new URLSearchParams({limit: "100"});
      if (cursor) params.set("cursor", cursor);
      const body = await api(`/api/v1/forms?${params}`);
      all.push(...body.items);
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    return all;
  }

  function fillFormSelect() {
    const select = $("form-select");
    select.replaceChildren(el("option", {value: ""}, forms.length ? "— pick a form —" : "(no forms)"));
    for (const form of forms) {
      select.append(el("option", {value: form.id}, `${form.title} (v${form.version})`));
    }
  }

  /** The values an answer filter can take: an enum's options, or true/false. */
  function choicesOf(prop) {
    if (Array.isArray(prop.enum)) return prop.enum;
    return prop.type === "boolean" ? [true, false] : [];
  }

  /** Enum and boolean fields of the form's schema: the only ones ``split_by`` accepts. */
  function choiceFields(form) {
    const props = (form && form.schema && form.schema.properties) || {};
    return Object.entries(props).filter(([, p]) => choicesOf(p).length).map(([name]) => name);
  }

  function fillSplitSelect(form) {
    const select = $("split-by");
    select.replaceChildren(el("option", {value: ""}, "(none)"));
    for (const name of choiceFields(form)) select.append(el("option", {value: name}, name));
  }

  function fillAnswerFilter(form) {
    const select = $("answer-field");
    select.replaceChildren(el("option", {value: ""}, "(any answer)"));
    for (const name of choiceFields(form)) select.append(el("option", {value: name}, name));
    fillAnswerValues(form);
  }

  function fillAnswerValues(form) {
    const props = (form && form.schema && form.schema.properties) || {};
    const prop = props[$("answer-field").value];
    const select = $("answer-value");
    const values = prop ? choicesOf(prop) : [];
    select.replaceChildren(...values.map((v) => el("option", {value: String(v)}, String(v))));
    select.disabled = !values.length;
  }

  function currentForm() {
    return forms.find((f) => f.id === $("form-select").value);
  }

  function fillStatusBoxes() {
    const box = $("status-boxes");
    box.replaceChildren();
    for (const status of STATUSES) {
      const input = el("input", {type: "checkbox", value: status, "data-status": status});
      input.checked = true;
      box.append(el("label", {}, input, status));
    }
  }

  function fillTimeZones() {
    const guess = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    $("tz").value = guess;
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [guess];
    $("tz-list").replaceChildren(...zones.map((z) => el("option", {value: z})));
  }

  function validTimeZone(tz) {
    try {
      new Intl.DateTimeFormat("en-US", {timeZone: tz});
      return true;
    } catch (_) {
      return false;
    }
  }

  /** Milliseconds to add to UTC to get wall-clock time in ``tz`` at instant ``ms``. */
  function tzOffset(ms, tz) {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(ms));
    const get = (type) => Number(parts.find((p) => p.type === type).value);
    const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
    return wall - Math.floor(ms / 1000) * 1000;
  }

  /** The UTC instant (ms) of local midnight starting ``day`` ("YYYY-MM-DD") in ``tz``. */
  function zonedMidnight(day, tz, plusDays = 0) {
    const [y, m, d] = day.split("-").map(Number);
    const wall = Date.UTC(y, m - 1, d + plusDays);
    let guess = wall;
    for (let i = 0; i < 3; i++) {  // converges in two steps except inside a DST gap
      const next = wall - tzOffset(guess, tz);
      if (next === guess) break;
      guess = next;
    }
    return guess;
  }

  /** ISO with microseconds, as the store writes timestamps (bounds are exclusive). */
  function isoMicro(ms, microsBelow) {
    const iso = new Date(ms).toISOString();  // ...sss Z
    return iso.replace("Z", microsBelow ? "999Z" : "000Z");
  }

  /** The list endpoint's filters from the form controls: status, created_after, created_before. */
  function filterParams() {
    const params = new URLSearchParams();
    const boxes = [...$("status-boxes").querySelectorAll("input[type=checkbox]")];
    const picked = boxes.filter((b) => b.checked).map((b) => b.value);
    if (picked.length && picked.length < boxes.length) params.set("filter[status]", picked.join(","));
    const field = $("answer-field").value;
    if (field && !$("answer-value").disabled) params.set(`filter[answers.${field}]`, $("answer-value").value);
    const tz = $("tz").value.trim() || "UTC";
    const from = $("date-from").value;
    const to = $("date-to").value;
    if ((from || to) && !validTimeZone(tz)) {
      throw Object.assign(new Error("Unknown time zone"), {details: [{parameter: "tz", message: `unknown time zone ${tz}`}]});
    }
    // Dates are whole days in the chosen time zone; the API's bounds are exclusive.
    if (from) params.set("created_after", isoMicro(zonedMidnight(from, tz) - 1, true));
    if (to) params.set("created_before", isoMicro(zonedMidnight(to, tz, 1), false));
    return params;
  }

  // --- rendering -----------------------------------------------------------------------------------

  function destroyCharts() {
    while (charts.length) charts.pop().destroy();
  }

  function chart(canvas, config) {
    if (typeof window.Chart !== "function") return null;  // the table still shows every number
    config.options = Object.assign({animation: false, responsive: true, maintainAspectRatio: false}, config.options);
    const made = new window.Chart(canvas, config);
    charts.push(made);
    return made;
  }

  function fillTable(table, rows) {
    table.tBodies[0].replaceChildren(...rows);
  }

  function renderHeadline(summary, series) {
    $("total").textContent = fmt(summary.total);
    const drafts = summary.drafts || {};
    $("drafts-open").textContent = fmt(drafts.open);
    $("drafts-completed").textContent = fmt(drafts.completed);
    $("as-of").textContent = summary.as_of || "–";
    const cached = [summary.cached ? "summary cached" : "summary computed",
                    series.cached ? "series cached" : "series computed"];
    $("cached").textContent = cached.join(" · ");
  }

  function renderStatus(summary) {
    const counts = summary.status || {};
    const names = [...STATUSES.filter((s) => s in counts), ...Object.keys(counts).filter((s) => !STATUSES.includes(s))];
    fillTable($("status-table"), names.map((s) => el("tr", {"data-status": s},
      el("td", {}, s), el("td", {class: "n count"}, fmt(counts[s])))));
    chart($("status-chart"), {
      type: "doughnut",
      data: {labels: names, datasets: [{data: names.map((s) => counts[s]),
                                        backgroundColor: names.map((s, i) => STATUS_COLOURS[s] || PALETTE[i % 10])}]},
      options: {plugins: {legend: {position: "right"}}},
    });
  }

  function renderTimeseries(series) {
    const points = series.points || [];
    const statuses = [...new Set(points.flatMap((p) => Object.keys(p.by_status || {})))];
    fillTable($("timeseries-table"), points.map((p) => el("tr", {"data-start": p.start},
      el("td", {}, p.start), el("td", {class: "n count"}, fmt(p.count)),
      el("td", {class: "muted"}, Object.entries(p.by_status || {}).map(([s, n]) => `${s} ${fmt(n)}`).join(", ")))));
    const datasets = statuses.map((s, i) => ({
      label: s, data: points.map((p) => (p.by_status || {})[s] || 0), stack: "status",
      backgroundColor: STATUS_COLOURS[s] || PALETTE[i % 10],
    }));
    if (!datasets.length) datasets.push({label: "submissions", data: points.map((p) => p.count)});
    chart($("timeseries-chart"), {
      type: "bar",
      data: {labels: points.map((p) => p.start), datasets},
      options: {scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, ticks: {precision: 0}}},
                plugins: {title: {display: true, text: `per ${series.interval} (${series.tz})`}}},
    });
  }

  function renderSplit(summary) {
    const split = summary.split;
    $("split-panel").hidden = !split;
    if (!split) return;
    $("split-title").textContent = `Split by ${split.field}`;
    fillTable($("split-table"), (split.groups || []).map((g) => el("tr", {"data-value": String(g.value)},
      el("td", {}, fmt(g.value)), el("td", {class: "n count"}, fmt(g.total)))));
  }

  function statsList(field, names) {
    const dl = el("dl", {class: "stats"});
    for (const name of names) {
      if (field[name] === undefined) continue;
      dl.append(el("dt", {}, name), el("dd", {"data-stat": name}, fmt(field[name])));
    }
    return dl;
  }

  function barChart(container, labels, values, horizontal) {
    const canvas = el("canvas", {role: "img", "aria-label": "chart"});
    container.append(el("div", {class: "chart"}, canvas));
    chart(canvas, {
      type: "bar",
      data: {labels, datasets: [{data: values, backgroundColor: PALETTE[0]}]},
      options: {indexAxis: horizontal ? "y" : "x", plugins: {legend: {display: false}},
                scales: {[horizontal ? "x" : "y"]: {beginAtZero: true, ticks: {precision: 0}}}},
    });
  }

  function optionsBody(card, field) {
    const options = field.options || [];
    barChart(card, options.map((o) => String(o.value)), options.map((o) => o.count), true);
    const table = el("table", {class: "options"},
      el("thead", {}, el("tr", {}, el("th", {}, "value"), el("th", {class: "n"}, "count"), el("th", {class: "n"}, "%"))),
      el("tbody", {}, options.map((o) => el("tr", {"data-value": String(o.value)},
        el("td", {}, String(o.value)), el("td", {class: "n count"}, fmt(o.count)), el("td", {class: "n"}, fmtPct(o.pct))))));
    card.append(table);
    if (field.unexpected) card.append(el("p", {class: "muted", "data-stat": "unexpected"}, `unexpected values: ${fmt(field.unexpected)}`));
  }

  function numberBody(card, field) {
    card.append(statsList(field, ["mean", "median", "p25", "p75", "min", "max", "stdev"]));
    if (field.kind === "nps") card.append(statsList(field, ["score", "promoters", "passives", "detractors"]));
    const bins = field.histogram || [];
    // Integer fields with a small range come as one bin per value: [v, v + 1).
    const perValue = bins.every((b) => Number.isInteger(b.lo) && b.hi - b.lo === 1);
    const labels = bins.map((b) => (perValue ? String(b.lo) : `${EDGE.format(b.lo)}–${EDGE.format(b.hi)}`));
    barChart(card, labels, bins.map((b) => b.count), false);
  }

  function stringBody(card, field) {
    card.append(statsList(field, ["distinct"]));
    const top = field.top || [];
    card.append(el("table", {class: "top"},
      el("thead", {}, el("tr", {}, el("th", {}, "top value"), el("th", {class: "n"}, "count"))),
      el("tbody", {}, top.map((t) => el("tr", {"data-value": String(t.value)},
        el("td", {}, String(t.value)), el("td", {class: "n count"}, fmt(t.count)))))));
    const samples = field.samples || [];
    if (samples.length) {
      card.append(el("details", {}, el("summary", {}, `samples (${samples.length})`),
        el("ul", {class: "samples"}, samples.map((s) => el("li", {}, String(s))))));
    }
  }

  function dateBody(card, field) {
    card.append(statsList(field, ["min", "max"]));
    const days = field.per_day || [];
    barChart(card, days.map((d) => d.date), days.map((d) => d.count), false);
  }

  const BODIES = {enum: optionsBody, boolean: optionsBody, array: optionsBody, number: numberBody, nps: numberBody,
                  string: stringBody, date: dateBody, datetime: dateBody};

  function renderField(name, field, title) {
    const card = el("section", {class: "panel field", "data-field": name, "data-kind": field.kind},
      el("h3", {}, title && title !== name ? `${title} (${name})` : name, el("span", {class: "kind"}, field.kind)),
      el("div", {class: "muted"}, "answered ", el("span", {"data-stat": "count"}, fmt(field.count)),
        " · missing ", el("span", {"data-stat": "missing"}, fmt(field.missing))));
    if (field.redacted) {
      card.append(el("p", {class: "redacted"}, "Sensitive field: only counts are shown to you."));
      return card;
    }
    const body = BODIES[field.kind];
    if (body) body(card, field);
    return card;
  }

  function renderFields(summary, form) {
    const props = (form && form.schema && form.schema.properties) || {};
    const cards = Object.entries(summary.fields || {}).map(([name, field]) =>
      renderField(name, field, props[name] && props[name].title));
    $("fields").replaceChildren(...cards);
  }

  // --- loading -------------------------------------------------------------------------------------

  async function loadAnalytics() {
    const formId = $("form-select").value;
    if (!formId) {
      $("results").hidden = true;
      setState("idle");
      return;
    }
    const seq = ++loadSeq;  // a slower earlier answer must not overwrite a newer one
    setState("loading");
    showError(null);
    try {
      const filters = filterParams();
      const summaryParams = new URLSearchParams(filters);
      if ($("split-by").value) summaryParams.set("split_by", $("split-by").value);
      const seriesParams = new URLSearchParams(filters);
      seriesParams.set("interval", $("interval").value);
      seriesParams.set("tz", $("tz").value.trim() || "UTC");
      const base = `/api/v1/forms/${encodeURIComponent(formId)}/analytics`;
      const [summary, series] = await Promise.all([computed(`${base}?${summaryParams}`, seq),
                                                   computed(`${base}/timeseries?${seriesParams}`, seq)]);
      if (seq !== loadSeq) return;
      destroyCharts();
      const form = currentForm();
      renderHeadline(summary, series);
      renderStatus(summary);
      renderTimeseries(series);
      renderSplit(summary);
      renderFields(summary, form);
      $("results").hidden = false;
      document.body.dataset.formId = formId;
      setState("ready");
    } catch (err) {
      if (seq !== loadSeq) return;
      showError(err);
      setState(err.status === 401 ? "login" : "error");
    }
  }

  function onFormChange() {
    fillSplitSelect(currentForm());
    fillAnswerFilter(currentForm());
    loadAnalytics();
  }

  function onApply(event) {
    event.preventDefault();
    loadAnalytics();
  }

  async function startApp(username) {
    $("login-panel").hidden = true;
    $("app-panel").hidden = false;
    $("logout").hidden = false;
    $("whoami").textContent = username ? `logged in as ${username}` : "logged in";
    setState("loading-forms");
    try {
      forms = await loadForms();
    } catch (err) {
      if (err.status !== 401) {
        showError(err);
        setState("error");
      }
      return;
    }
    fillFormSelect();
    setState("idle");
  }

  function init() {
    fillStatusBoxes();
    fillTimeZones();
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", onLogout);
    $("filters").addEventListener("submit", onApply);
    $("form-select").addEventListener("change", onFormChange);
    $("answer-field").addEventListener("change", () => fillAnswerValues(currentForm()));
    if (token()) startApp(sessionStorage.getItem(USER_KEY) || "");
    else showLogin("");
  }

  document.addEventListener("DOMContentLoaded", init);
})();
