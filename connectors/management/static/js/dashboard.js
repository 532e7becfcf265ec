/* Operator dashboard: asks for the management API token, then charts GET {api}/analytics with
 * Chart.js (vendor/chart.umd.js) and lists GET {api}/handoffs. Every value from the API is put into
 * the page as text (textContent) or into a chart, never as HTML. The token stays in sessionStorage. */
"use strict";

(function () {
  const TOKEN_KEY = "acme.managementToken";
  const REFRESH_MS = 60_000;
  const MAX_INTENTS = 10;
  const LONG_WAIT_MS = 15 * 60_000;  // waits longer than this show in red
  const API = location.pathname.replace(/\/dashboard(\/.*)?$/, "") || "/api/whatsapp";
  const COLORS = {
    green: "#00a884", greenDark: "#008069", teal: "#53bdeb", amber: "#f5a623", red: "#e5484d",
    grey: "#aebac1", purple: "#8e6bd8", muted: "#667781", line: "#e9edef",
  };
  const DELIVERY = [  // furthest status first; labels as the operator reads them
    ["read", "Read", "#53bdeb"], ["played", "Played", "#027eb5"], ["delivered", "Delivered", "#00a884"],
    ["sent", "Sent", "#aebac1"], ["accepted", "Accepted by Meta", "#d1d7db"], ["queued", "Queued", "#f5a623"],
    ["failed", "Failed", "#e5484d"],
  ];
  const FUNNEL_LABELS = { main_menu: "Main menu", sub_menu: "Sub-menu", answer: "Answer" };

  const $ = (selector) => document.querySelector(`[data-testid="${selector}"]`);
  const charts = {};
  let timer = null;

  function setState(state) { document.body.dataset.state = state; }

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  function showSignin(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    clearInterval(timer);
    $("dashboard").hidden = true;
    $("controls").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    $("token-input").value = "";
    $("token-input").focus();
    setState("signin");
  }

  function showDashboard() {
    $("signin").hidden = true;
    $("dashboard").hidden = false;
    $("controls").hidden = false;
  }

  class Unauthorized extends Error {}

  async function getJSON(path) {
    const response = await fetch(`${API}${path}`, {
      headers: { Authorization: `Bearer ${token()}`, Accept: "application/json" },
      cache: "no-store",
    });
    if (response.status === 401) throw new Unauthorized();
    if (!response.ok) {
      let detail = "";
      try { detail = (await response.json()).error || ""; } catch (_) { /* not JSON */ }
      throw new Error(`${path.split("?")[0]} answered ${response.status}${detail ? `: ${detail}` : ""}`);
    }
    return response.json();
  }

  async function load() {
    setState("loading");
    const days = Number($("range").value) || 7;
    const until = new Date();
    const since = new Date(until.getTime() - days * 86_400_000);
    const query = `?since=${encodeURIComponent(since.toISOString())}&until=${encodeURIComponent(until.toISOString())}`;
    $("status").classList.remove("error");
    $("status").textContent = "Loading…";
    try {
      const [analytics, handoffs] = await Promise.all([getJSON(`/analytics${query}`), getJSON("/handoffs")]);
      showDashboard();
      render(analytics);
      renderHandoffs(handoffItems(handoffs));
      $("status").textContent = `Updated ${until.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
      setState("ready");
    } catch (error) {
      if (error instanceof Unauthorized) {
        showSignin(token() ? "That token was not accepted. Check MANAGEMENT_API_TOKEN." : "");
        return;
      }
      showDashboard();
      $("status").classList.add("error");
      $("status").textContent = `Could not load the figures: ${error.message}`;
      setState("error");
    }
  }

  // --- formatting ---------------------------------------------------------------------------

  const number = (value) => (value ?? 0).toLocaleString("en-IN");
  const percent = (share, digits = 1) => `${((share || 0) * 100).toFixed(digits)}%`;

  function duration(ms) {
    if (ms === null || ms === undefined) return "–";
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
    return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  }

  function waited(since) {
    const minutes = Math.max(0, Math.floor((Date.now() - since.getTime()) / 60_000));
    if (minutes < 1) return "just now";
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    return hours < 24 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} d ${hours % 24} h`;
  }

  function parseTime(value) {
    if (value === null || value === undefined || value === "") return null;
    if (typeof value === "number") return new Date(value < 1e12 ? value * 1000 : value);
    const text = String(value);
    // The API stores naive UTC; a time without a zone is UTC.
    const date = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text.replace(" ", "T")}Z`);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function dayLabel(iso) {
    const [y, m, d] = iso.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString("en-GB", {
      weekday: "short", day: "numeric", month: "short", timeZone: "UTC",
    });
  }

  function phone(waId) {
    const digits = String(waId || "").replace(/\D/g, "");
    if (digits.startsWith("91") && digits.length === 12) {
      return `+91 ${digits.slice(2, 7)} ${digits.slice(7)}`;
    }
    return digits ? `+${digits}` : "";
  }

  const pretty = (intent) => intent.replace(/_/g, " ");

  // --- charts -------------------------------------------------------------------------------

  function chart(id, config) {
    if (charts[id]) {
      charts[id].data = config.data;
      charts[id].options = config.options;
      charts[id].update("none");
    } else {
      charts[id] = new Chart(document.getElementById(id), config);
    }
    return charts[id];
  }

  function baseOptions(extra) {
    return Object.assign({
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: false } },
    }, extra);
  }

  function render(data) {
    const messages = data.messages || {};
    const intents = data.intents || {};
    const fallback = data.fallback || {};
    const handoffs = data.handoffs || {};
    const latency = data.latency_ms || {};

    $("kpi-in").textContent = number(messages.in);
    $("kpi-out").textContent = number(messages.out);
    $("kpi-users").textContent = number(data.active_users);
    $("kpi-fallback").textContent = percent(fallback.rate);
    $("kpi-fallback-hint").textContent = `${number(fallback.turns)} of ${number(intents.user_turns)} turns`;
    $("kpi-handoffs").textContent = number(handoffs.requests);
    $("kpi-handoffs-hint").textContent = `${number(handoffs.users)} ${handoffs.users === 1 ? "person" : "people"}`;
    $("kpi-latency").textContent = duration(latency.p50);
    $("kpi-latency-hint").textContent = latency.samples ? `p90 ${duration(latency.p90)}` : "no replies yet";

    renderMessages(messages.per_day || []);
    renderIntents(intents);
    renderFunnel(data.funnel || []);
    renderLatency(latency);
    renderDelivery(data.delivery || {});

    const window_ = data.window || {};
    const since = parseTime(window_.since);
    const until = parseTime(window_.until);
    const when = (d) => d ? d.toLocaleString("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }) : "?";
    $("window").textContent = `Figures from ${when(since)} to ${when(until)} · days in ${window_.timezone || "UTC"}`;
  }

  function renderMessages(perDay) {
    chart("chart-messages", {
      data: {
        labels: perDay.map((day) => dayLabel(day.day)),
        datasets: [
          { type: "bar", label: "Messages in", data: perDay.map((d) => d.in), backgroundColor: COLORS.green,
            borderRadius: 4, maxBarThickness: 28, order: 2 },
          { type: "bar", label: "Messages out", data: perDay.map((d) => d.out), backgroundColor: COLORS.teal,
            borderRadius: 4, maxBarThickness: 28, order: 2 },
          { type: "line", label: "Active users", data: perDay.map((d) => d.active_users), yAxisID: "users",
            borderColor: COLORS.amber, backgroundColor: COLORS.amber, cubicInterpolationMode: "monotone",
            pointRadius: 3, order: 1 },
        ],
      },
      options: baseOptions({
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { display: true, position: "top", align: "end",
                             labels: { boxWidth: 12, boxHeight: 12, sort: (a, b) => a.datasetIndex - b.datasetIndex } } },
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, title: { display: true, text: "messages" }, ticks: { precision: 0 } },
          users: { position: "right", beginAtZero: true, grid: { display: false },
                   title: { display: true, text: "users" }, ticks: { precision: 0 } },
        },
      }),
    });
  }

  function renderIntents(intents) {
    const counts = intents.counts || [];
    const top = counts.slice(0, MAX_INTENTS);
    const rest = counts.slice(MAX_INTENTS);
    if (rest.length) {
      top.push({
        intent: `${rest.length} others`, count: rest.reduce((n, r) => n + r.count, 0),
        share: rest.reduce((n, r) => n + r.share, 0),
      });
    }
    $("intents-total").textContent = `${number(intents.user_turns)} messages`;
    chart("chart-intents", {
      type: "bar",
      data: {
        labels: top.map((row) => pretty(row.intent)),
        datasets: [{
          label: "Share of messages", data: top.map((row) => +(row.share * 100).toFixed(1)),
          backgroundColor: top.map((row, i) => row.intent === "nlu_fallback" ? COLORS.red
            : row.intent === "choose_option" ? COLORS.amber : rest.length && i === top.length - 1 ? COLORS.grey
            : COLORS.green),
          borderRadius: 4, barPercentage: 0.8,
        }],
      },
      options: baseOptions({
        indexAxis: "y",
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (ctx) => ` ${ctx.parsed.x}% (${number(top[ctx.dataIndex].count)})` } },
        },
        scales: {
          x: { beginAtZero: true, ticks: { callback: (v) => `${v}%` }, grid: { color: COLORS.line } },
          y: { grid: { display: false } },
        },
      }),
    });
    const numbers = intents.numbers || {};
    $("numbers-note").textContent = numbers.typed
      ? `Typed option numbers: ${number(numbers.typed)} — ${number(numbers.resolved)} matched a menu option ` +
        `(counted as that option's intent), ${number(numbers.unresolved)} did not (choose option).`
      : "Red: not understood. A typed number counts as the option it picked.";
  }

  function renderFunnel(steps) {
    const first = steps.length ? steps[0].users : 0;
    chart("chart-funnel", {
      type: "bar",
      data: {
        labels: steps.map((s) => {
          const name = FUNNEL_LABELS[s.step] || s.step;
          return first ? `${name} · ${Math.round((s.users / first) * 100)}%` : name;
        }),
        datasets: [{
          label: "People", data: steps.map((s) => s.users),
          backgroundColor: [COLORS.greenDark, COLORS.green, "#25d366"], borderRadius: 4, barPercentage: 0.7,
        }],
      },
      options: baseOptions({
        indexAxis: "y",
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0 }, grid: { color: COLORS.line } },
          y: { grid: { display: false } },
        },
      }),
    });
  }

  function renderLatency(latency) {
    const keys = ["p50", "p90", "p99"];
    $("latency-samples").textContent = latency.samples ? `${number(latency.samples)} replies` : "";
    chart("chart-latency", {
      type: "bar",
      data: {
        labels: ["Median (p50)", "p90", "p99"],
        datasets: [{
          label: "Seconds to first reply",
          data: keys.map((k) => (latency[k] === null || latency[k] === undefined ? null : latency[k] / 1000)),
          backgroundColor: [COLORS.green, COLORS.amber, COLORS.red], borderRadius: 4, maxBarThickness: 64,
        }],
      },
      options: baseOptions({
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (ctx) => ` ${duration(latency[keys[ctx.dataIndex]])}` } },
        },
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, title: { display: true, text: "seconds" }, grid: { color: COLORS.line } },
        },
      }),
    });
  }

  function renderDelivery(delivery) {
    const known = DELIVERY.filter(([key]) => delivery[key]);
    const others = Object.keys(delivery).filter((key) => delivery[key] && !DELIVERY.some(([k]) => k === key));
    const rows = known.concat(others.map((key) => [key, key, COLORS.purple]));
    chart("chart-delivery", {
      type: "doughnut",
      data: {
        labels: rows.map(([key, label]) => `${label} (${number(delivery[key])})`),
        datasets: [{ data: rows.map(([key]) => delivery[key]), backgroundColor: rows.map((r) => r[2]),
                     borderWidth: 2, borderColor: "#fff" }],
      },
      options: baseOptions({
        cutout: "62%",
        plugins: { legend: { display: true, position: "right", labels: { boxWidth: 12, boxHeight: 12 } } },
      }),
    });
  }

  // --- handoffs -----------------------------------------------------------------------------

  function handoffItems(json) {
    // GET /handoffs answers {"handoffs": [...]} (openapi/management.yaml, Handoff).
    if (Array.isArray(json)) return json;
    return json && Array.isArray(json.handoffs) ? json.handoffs : [];
  }

  function lastMessage(item) {
    const last = item.last_message ?? item.last_text ?? "";
    if (last === null || typeof last !== "object") return String(last);
    return last.text || (last.kind ? `[${last.kind}]` : "");
  }

  function cell(row, className, text) {
    const td = document.createElement("td");
    td.className = className;
    td.textContent = text;
    row.append(td);
    return td;
  }

  function renderHandoffs(items) {
    const body = $("handoffs").querySelector("tbody");
    body.replaceChildren();
    for (const item of items) {
      const row = document.createElement("tr");
      row.dataset.testid = "handoff-row";
      const since = parseTime(item.since ?? item.requested_at);
      const who = cell(row, "name", item.name || item.profile_name || "WhatsApp user");
      if (item.company) {
        who.append(Object.assign(document.createElement("span"), { className: "company", textContent: item.company }));
      }
      cell(row, "number", phone(item.wa_id));
      const waiting = cell(row, "waiting", since ? waited(since) : "");
      if (since && Date.now() - since.getTime() > LONG_WAIT_MS) waiting.classList.add("long");
      cell(row, "count", item.messages_waiting === undefined ? "" : number(item.messages_waiting));
      cell(row, "last", lastMessage(item));
      body.append(row);
    }
    $("handoff-count").textContent = String(items.length);
    $("handoff-count").classList.toggle("zero", items.length === 0);
    $("handoffs").hidden = items.length === 0;
    $("handoffs-empty").hidden = items.length !== 0;
  }

  // --- wiring -------------------------------------------------------------------------------

  function start() {
    Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
    Chart.defaults.color = COLORS.muted;
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token-input").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      load();
      clearInterval(timer);
      timer = setInterval(load, REFRESH_MS);
    });
    $("refresh").addEventListener("click", load);
    $("range").addEventListener("change", load);
    $("sign-out").addEventListener("click", () => showSignin(""));
    window.dashboard = { charts, load, api: API };
    if (token()) {
      load();
      timer = setInterval(load, REFRESH_MS);
    } else {
      showSignin("");
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
