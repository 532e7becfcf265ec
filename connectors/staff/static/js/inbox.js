/* Staff inbox: polls the conversations list and the open conversation every few seconds, and lets a
 * person take over, reply (or send a template when the 24-hour window is closed) and hand back.
 * Every value from the server is put into the page as text (textContent via el()), never as HTML.
 * Writes carry the session's CSRF token in X-CSRF-Token. */
"use strict";

(function () {
  const API = "/staff/api";
  const STATE_LABELS = { waiting: "Waiting for a person", with_staff: "With staff", bot: "With the bot" };
  const FROM_LABELS = { bot: "Bot", staff: "Staff", system: "System", notification: "Notification", api: "API" };
  const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
  let me = null;
  let openWaId = null;
  let openSignature = "";
  let listSignature = "";
  let timer = null;

  /* Build an element; string children become text nodes, so no server value is ever parsed as HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("data-") || key === "href" || key === "title" || key === "rel" ||
               key === "target" || key === "src" || key === "alt") node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === "") continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function formatNumber(waId) {
    return waId && waId.length === 12 && waId.startsWith("91")
      ? `+91 ${waId.slice(2, 7)} ${waId.slice(7)}` : `+${waId}`;
  }

  function waited(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 60) return "just now";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} days`;
  }

  function clock(iso) {
    if (!iso) return "";
    const at = new Date(iso);
    const sameDay = at.toDateString() === new Date().toDateString();
    return sameDay ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : at.toLocaleString([], { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  }

  function showStatus(message, isError) {
    $("status").textContent = message || "";
    $("status").classList.toggle("error", Boolean(isError));
  }

  class SignedOut extends Error {}

  async function call(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") { headers["Content-Type"] = "application/json"; headers["X-CSRF-Token"] = me ? me.csrf_token : ""; }
    const answer = await fetch(`${API}${path}`, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (answer.status === 401) throw new SignedOut();
    let data = null;
    try { data = await answer.json(); } catch (_) { /* not JSON */ }
    return { ok: answer.ok, status: answer.status, data: data || {} };
  }

  function signedOut() {
    clearInterval(timer);
    location.assign("/staff/signin");
  }

  /* The conversations list. */
  function renderList(items) {
    const signature = JSON.stringify(items);
    if (signature === listSignature) { updateWaits(items); return; }
    listSignature = signature;
    const list = $("conversations");
    list.replaceChildren(...items.map((item) => el("li", {
      class: `row ${item.state}${item.wa_id === openWaId ? " open" : ""}`, "data-testid": "conversation-row",
      "data-wa-id": item.wa_id, "data-state": item.state,
    },
      el("div", { class: "row-top" },
        el("span", { class: "row-name", "data-testid": "row-name" }, item.name || item.profile_name || formatNumber(item.wa_id)),
        el("span", { class: "row-waited", "data-testid": "row-waited" }, item.state === "waiting" ? waited(item.waited_seconds) : clock(item.last_message_at))),
      el("div", { class: "row-sub muted" },
        el("span", { "data-testid": "row-company" }, item.company || (item.name ? "" : item.profile_name ? formatNumber(item.wa_id) : "")),
        el("span", { class: "pill small", "data-testid": "row-state" }, item.state === "with_staff" && item.handled_by
          ? `With ${item.handled_by}` : STATE_LABELS[item.state])),
      el("div", { class: "row-last", "data-testid": "row-last" }, item.last_message || ""),
    )));
    $("conversations-empty").hidden = items.length > 0;
  }

  function updateWaits(items) {
    for (const item of items) {
      if (item.state !== "waiting") continue;
      const row = document.querySelector(`[data-testid="conversation-row"][data-wa-id="${CSS.escape(item.wa_id)}"]`);
      if (row) row.querySelector("[data-testid=row-waited]").textContent = waited(item.waited_seconds);
    }
  }

  async function loadList() {
    const q = $("search").value.trim();
    const answer = await call("GET", `/conversations${q ? `?q=${encodeURIComponent(q)}` : ""}`);
    if (!answer.ok) throw new Error(answer.data.detail || answer.data.error || `status ${answer.status}`);
    renderList(answer.data.conversations);
  }

  /* One conversation. */
  function messageNode(message) {
    const attrs = { class: `message ${message.direction} from-${message.from || "customer"}`, "data-testid": "message",
                    "data-direction": message.direction, "data-from": message.from || "customer", "data-kind": message.kind };
    const parts = [];
    if (message.direction === "out") {
      const who = message.from === "staff" && message.author ? message.author : FROM_LABELS[message.from] || message.from;
      parts.push(el("div", { class: "author", "data-testid": "message-author" }, who));
    }
    if (message.header) parts.push(el("div", { class: "header" }, message.header));
    if (message.kind === "tap") parts.push(el("div", { class: "tap-label muted" }, "Tapped"));
    if (message.media) {
      const media = message.media;
      const label = media.filename || (media.kind === "image" ? "Photo" : media.kind[0].toUpperCase() + media.kind.slice(1));
      if (media.url && media.kind === "image" && message.direction === "in") {
        parts.push(el("img", { class: "photo", src: `${API}/${media.url}`, alt: label, "data-testid": "message-photo" }));
      } else if (media.url) {
        parts.push(el("a", { class: "file", href: message.direction === "in" ? `${API}/${media.url}` : media.url,
                            rel: "noopener noreferrer", target: "_blank", "data-testid": "message-file" }, `📎 ${label}`));
      } else {
        parts.push(el("div", { class: "file", "data-testid": "message-file" }, `📎 ${label}${message.direction === "in" ? " (not downloaded)" : ""}`));
      }
    }
    if (message.template) parts.push(el("div", { class: "template" }, `Template: ${message.template}`));
    if (message.text) parts.push(el("div", { class: "text", "data-testid": "message-text" }, message.text));
    if (message.description) parts.push(el("div", { class: "muted" }, message.description));
    if (message.footer) parts.push(el("div", { class: "footer muted" }, message.footer));
    if (message.buttons) {
      parts.push(el("div", { class: "buttons", "data-testid": "message-buttons" },
        message.buttons.map((title) => el("span", { class: "button" }, title))));
    }
    if (message.sections) {
      parts.push(el("details", { class: "list", "data-testid": "message-list" },
        el("summary", {}, `☰ ${message.list_button || "Options"}`),
        message.sections.map((section) => el("div", { class: "section" },
          section.title ? el("div", { class: "section-title muted" }, section.title) : null,
          section.rows.map((row) => el("div", { class: "list-row" }, row.title,
            row.description ? el("span", { class: "muted" }, ` · ${row.description}`) : null))))));
    }
    const meta = [el("time", {}, clock(message.at))];
    if (message.direction === "out") {
      meta.push(el("span", { class: `ticks ${message.ticks}`, "data-testid": "ticks", "data-status": message.ticks,
                             title: message.error || message.ticks }, tickText(message.ticks)));
    }
    parts.push(el("div", { class: "meta" }, meta));
    return el("li", attrs, parts);
  }

  function tickText(ticks) {
    return { queued: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠ not delivered" }[ticks] || "";
  }

  function renderConversation(conv) {
    const signature = JSON.stringify(conv);
    if (signature === openSignature) return;
    const messages = $("messages");
    const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
    openSignature = signature;
    $("placeholder").hidden = true;
    $("conversation").hidden = false;
    $("conversation").dataset.waId = conv.wa_id;
    $("conversation").dataset.state = conv.state;
    $("conv-name").textContent = conv.name || conv.profile_name || formatNumber(conv.wa_id);
    $("conv-company").textContent = [conv.company, conv.name && conv.profile_name ? `WhatsApp: ${conv.profile_name}` : ""]
      .filter(Boolean).join(" · ");
    $("conv-number").textContent = formatNumber(conv.wa_id);
    $("conv-state").textContent = conv.state === "with_staff" && conv.handled_by ? `With ${conv.handled_by}`
      : conv.state === "waiting" ? `Waiting for a person · ${waited(conv.waited_seconds)}` : STATE_LABELS[conv.state];
    $("conv-state").className = `pill ${conv.state}`;
    $("take-over").hidden = conv.state !== "bot";
    $("hand-back").hidden = conv.state === "bot";
    $("truncated").hidden = !conv.truncated;
    messages.replaceChildren(...conv.messages.map(messageNode));
    if (atBottom || messages.dataset.waId !== conv.wa_id) messages.scrollTop = messages.scrollHeight;
    messages.dataset.waId = conv.wa_id;
    renderComposer(conv);
  }

  function renderComposer(conv) {
    const notice = $("notice");
    let text = "";
    let canReply = false;
    let canTemplate = false;
    if (conv.opted_out) {
      text = "This customer sent STOP: nothing can be sent to them.";
    } else if (conv.state === "bot") {
      text = "The bot has this conversation. Take it over to reply; the bot pauses until you hand it back.";
    } else if (!conv.window_open) {
      canTemplate = me.templates.length > 0;
      text = canTemplate
        ? "The customer last wrote more than 24 hours ago: WhatsApp allows only a template until they write again."
        : "The customer last wrote more than 24 hours ago, and no template is configured (STAFF_TEMPLATES).";
    } else {
      canReply = true;
    }
    notice.textContent = text;
    notice.hidden = !text;
    $("reply-form").hidden = !canReply;
    $("template-form").hidden = !canTemplate;
  }

  async function loadConversation() {
    if (!openWaId) return;
    const answer = await call("GET", `/conversations/${encodeURIComponent(openWaId)}`);
    if (answer.status === 404) { showStatus("This conversation has no messages.", true); return; }
    if (!answer.ok) throw new Error(answer.data.detail || answer.data.error || `status ${answer.status}`);
    renderConversation(answer.data);
  }

  async function refresh() {
    try {
      await Promise.all([loadList(), loadConversation()]);
      document.body.dataset.state = "ready";
      if ($("status").classList.contains("error") && $("status").dataset.sticky !== "1") showStatus("");
    } catch (error) {
      if (error instanceof SignedOut) { signedOut(); return; }
      showStatus(`Could not refresh: ${error.message}`, true);
    }
  }

  async function act(path, body, done) {
    showStatus("");
    $("status").dataset.sticky = "";
    try {
      const answer = await call("POST", `/conversations/${encodeURIComponent(openWaId)}/${path}`, body);
      if (!answer.ok) {
        $("status").dataset.sticky = "1";
        const why = answer.data.detail || answer.data.error || `The server answered ${answer.status}.`;
        showStatus(answer.data.hint ? `${why}: ${answer.data.hint}` : why, true);
        return;
      }
      if (done) done();
      openSignature = "";
      await refresh();
    } catch (error) {
      if (error instanceof SignedOut) { signedOut(); return; }
      showStatus(error.message, true);
    }
  }

  function open(waId) {
    openWaId = waId;
    openSignature = "";
    listSignature = "";
    $("status").dataset.sticky = "";
    showStatus("");
    history.replaceState(null, "", `#${waId}`);
    refresh();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    try {
      const answer = await call("GET", "/me");
      if (!answer.ok) throw new Error(answer.data.error || `status ${answer.status}`);
      me = answer.data;
    } catch (error) {
      if (error instanceof SignedOut) { signedOut(); return; }
      showStatus(`Could not load: ${error.message}`, true);
      return;
    }
    $("me-name").textContent = me.name;
    const select = $("template-select");
    select.replaceChildren(...me.templates.map((t) => el("option", {}, `${t.name} (${t.language})`)));
    me.templates.forEach((t, index) => { select.options[index].value = t.name; });

    $("conversations").addEventListener("click", (event) => {
      const row = event.target.closest("[data-testid=conversation-row]");
      if (row) open(row.dataset.waId);
    });
    let searchTimer = null;
    $("search").addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => { listSignature = ""; refresh(); }, 250);
    });
    $("take-over").addEventListener("click", () => act("take-over"));
    $("hand-back").addEventListener("click", () => act("hand-back"));
    $("reply-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("reply-input").value.trim();
      if (text) act("reply", { text }, () => { $("reply-input").value = ""; });
    });
    $("reply-input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("reply-form").requestSubmit(); }
    });
    $("template-form").addEventListener("submit", (event) => {
      event.preventDefault();
      act("reply", { template: { name: $("template-select").value } });
    });
    $("sign-out").addEventListener("click", async () => {
      try { await call("POST", "/signout", {}); } catch (_) { /* signed out either way */ }
      signedOut();
    });
    const hash = decodeURIComponent(location.hash.slice(1));
    if (/^\d{6,15}$/.test(hash)) openWaId = hash;
    await refresh();
    timer = setInterval(refresh, Math.max(1, me.poll_seconds) * 1000);
  });
})();
