// The simulator page: pick a number, long-poll its chat, send text, taps and photos.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const POLL_WAIT = 25;
  const state = { config: null, waId: null, version: 0, items: new Map(), generation: 0, reported: new Set(),
    controller: null, typingTimer: null };

  const ui = {
    businessName: "",
    mediaUrl: (id) => `/sim/media/${encodeURIComponent(id)}`,
    find: (wamid) => state.items.get(wamid),
    tap: (kind, contextId, id, title, description) => send({ kind, context_id: contextId, id, title, description }),
    openList: (item) => openList(item),
    imageLoaded: () => scrollToEnd(false),
  };

  function api(path, options) {
    return fetch(path, options).then(async (response) => {
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
      return body;
    });
  }

  function formatNumber(waId) {
    return waId.length === 12 ? `+${waId.slice(0, 2)} ${waId.slice(2, 7)} ${waId.slice(7)}` : `+${waId}`;
  }

  function initials(name) {
    return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join("");
  }

  async function init() {
    state.config = await api("/sim/api/config");
    ui.businessName = state.config.business_name;
    $("business-name").textContent = state.config.business_name;
    $("avatar").textContent = initials(state.config.business_name);
    $("about-webhook").textContent = state.config.webhook_url;
    $("about-graph").textContent = `${location.origin}/${state.config.api_version}`;
    document.title = `${state.config.business_name} · WhatsApp simulator`;
    const picker = $("number-picker");
    for (const number of state.config.numbers) addNumber(number.wa_id, `${number.profile_name} · ${number.label}`);
    // Numbers typed earlier (e.g. contacts loaded from your own data) come back after a reload.
    for (const waId of typedNumbers()) addNumber(waId, `${formatNumber(waId)} · typed`);
    const other = document.createElement("option");
    other.value = OTHER;
    other.textContent = "Another number…";
    picker.append(other);
    const wanted = location.hash.slice(1) || localStorage.getItem("wa-sim-number");
    if (VALID_NUMBER.test(wanted || "")) {
      if (!hasNumber(wanted)) rememberNumber(wanted);
      picker.value = wanted;
    }
    picker.addEventListener("change", () => {
      if (picker.value !== OTHER) return switchTo(picker.value);
      const typed = (prompt("WhatsApp number with country code, digits only (e.g. 919811110001):") || "").replace(/[\s+]/g, "");
      if (!VALID_NUMBER.test(typed)) {
        if (typed) alert("A WhatsApp number is 6 to 15 digits, country code first.");
        picker.value = state.waId;
        return;
      }
      if (!hasNumber(typed)) rememberNumber(typed);
      picker.value = typed;
      switchTo(typed);
    });
    switchTo(picker.value);
  }

  const OTHER = "other";
  const VALID_NUMBER = /^\d{6,15}$/;

  function typedNumbers() {
    try {
      const saved = JSON.parse(localStorage.getItem("wa-sim-typed") || "[]");
      return Array.isArray(saved) ? saved.filter((n) => VALID_NUMBER.test(n)) : [];
    } catch (error) {
      return [];
    }
  }

  function hasNumber(waId) {
    return [...$("number-picker").options].some((option) => option.value === waId);
  }

  function addNumber(waId, label) {
    if (hasNumber(waId)) return;
    const option = document.createElement("option");
    option.value = waId;
    option.textContent = label;
    const other = [...$("number-picker").options].find((o) => o.value === OTHER);
    $("number-picker").insertBefore(option, other || null);
  }

  function rememberNumber(waId) {
    addNumber(waId, `${formatNumber(waId)} · typed`);
    localStorage.setItem("wa-sim-typed", JSON.stringify([...new Set([...typedNumbers(), waId])]));
  }

  function switchTo(waId) {
    state.generation += 1;
    if (state.controller) state.controller.abort();
    state.waId = waId;
    state.version = 0;
    $("my-number").textContent = formatNumber(waId);
    state.items.clear();
    state.reported.clear();
    localStorage.setItem("wa-sim-number", waId);
    history.replaceState(null, "", `#${waId}`);
    $("messages").replaceChildren();
    $("messages").dataset.waId = waId;
    closeSheets();
    setTyping(0);
    poll(state.generation);
  }

  async function poll(generation) {
    let first = true;
    let backoff = 500;
    while (generation === state.generation) {
      state.controller = new AbortController();
      const url = `/sim/api/chats/${state.waId}?since=${state.version}&wait=${first ? 0 : POLL_WAIT}`;
      try {
        const changes = await api(url, { signal: state.controller.signal });
        if (generation !== state.generation) return;
        apply(changes, first);
        first = false;
        backoff = 500;
        $("presence").classList.remove("offline");
      } catch (error) {
        if (generation !== state.generation) return;
        $("presence").textContent = "reconnecting…";
        $("presence").classList.add("offline");
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  function apply(changes, first) {
    if (changes.reset) {
      state.items.clear();
      $("messages").replaceChildren();
    }
    const before = state.items.size;
    for (const item of changes.items) upsert(item);
    state.version = changes.version;
    setTyping(changes.typing_ms);
    if (first || state.items.size > before) scrollToEnd(first);
    reportRead();
  }

  function upsert(item) {
    const known = state.items.get(item.wamid);
    if (known && known.version > item.version) return;
    state.items.set(item.wamid, item);
    const node = WA.renderItem(item, ui);
    const list = $("messages");
    const old = list.querySelector(`[data-wamid="${CSS.escape(item.wamid)}"]`);
    if (old) {
      old.replaceWith(node);
      return;
    }
    const later = [...list.children].find((child) => (state.items.get(child.dataset.wamid) || {}).time > item.time);
    list.insertBefore(node, later || null);
  }

  function scrollToEnd(force) {
    const list = $("scroller");
    const nearEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 160;
    if (force || nearEnd) list.scrollTop = list.scrollHeight;
  }

  function setTyping(ms) {
    clearTimeout(state.typingTimer);
    const presence = $("presence");
    presence.textContent = ms > 0 ? "typing…" : "business account";
    presence.classList.toggle("typing", ms > 0);
    if (ms > 0) state.typingTimer = setTimeout(() => setTyping(0), ms);
  }

  function reportRead() {
    if (document.visibilityState !== "visible") return;
    const wamids = [...state.items.values()]
      .filter((item) => item.side === "business" && item.status !== "read" && !state.reported.has(item.wamid))
      .map((item) => item.wamid);
    if (!wamids.length) return;
    wamids.forEach((wamid) => state.reported.add(wamid));
    api(`/sim/api/chats/${state.waId}/read`, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ wamids }) }).catch(() => wamids.forEach((wamid) => state.reported.delete(wamid)));
  }

  async function send(payload) {
    const waId = state.waId;
    try {
      const { item } = await api(`/sim/api/chats/${waId}/messages`, { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
      if (waId === state.waId) upsert(item);
    } catch (error) {
      showLocalError(`Could not send: ${error.message}`);
    }
    scrollToEnd(true);
  }

  function showLocalError(text) {
    const note = document.createElement("div");
    note.className = "row system";
    note.dataset.testid = "error-bubble";
    note.append(Object.assign(document.createElement("div"), { className: "error-note", textContent: text }));
    $("messages").append(note);
    scrollToEnd(true);
  }

  function openList(item) {
    const inter = item.message.interactive;
    $("sheet-title").textContent = inter.action.button || "Choose";
    const body = $("sheet-body");
    body.replaceChildren();
    for (const section of inter.action.sections || []) {
      if (section.title) body.append(Object.assign(document.createElement("div"),
        { className: "sheet-section", textContent: section.title }));
      for (const row of section.rows || []) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "sheet-row";
        button.dataset.testid = "list-row";
        const text = document.createElement("span");
        text.className = "sheet-row-text";
        text.append(Object.assign(document.createElement("span"), { className: "row-title", textContent: row.title }));
        if (row.description) text.append(Object.assign(document.createElement("span"),
          { className: "row-description", textContent: row.description }));
        button.append(text, Object.assign(document.createElement("span"), { className: "radio" }));
        button.addEventListener("click", () => {
          closeSheets();
          ui.tap("list_reply", item.wamid, row.id, row.title, row.description);
        });
        body.append(button);
      }
    }
    $("list-sheet").hidden = false;
  }

  function closeSheets() {
    $("list-sheet").hidden = true;
    $("photo-preview").hidden = true;
    const img = $("preview-img");
    if (img.src) URL.revokeObjectURL(img.src);
    img.removeAttribute("src");
    $("file").value = "";
  }

  async function sendPhoto() {
    const file = $("file").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    form.append("caption", $("caption").value);
    const waId = state.waId;
    closeSheets();
    $("caption").value = "";
    try {
      const { item } = await api(`/sim/api/chats/${waId}/photos`, { method: "POST", body: form });
      if (waId === state.waId) upsert(item);
    } catch (error) {
      showLocalError(`Could not send the photo: ${error.message}`);
    }
    scrollToEnd(true);
  }

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value;
    if (!text.trim()) return;
    $("text").value = "";
    send({ kind: "text", text });
  });
  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    if (!file) return;
    $("preview-img").src = URL.createObjectURL(file);
    $("photo-preview").hidden = false;
    $("caption").focus();
  });
  $("photo-send").addEventListener("click", sendPhoto);
  $("caption").addEventListener("keydown", (event) => { if (event.key === "Enter") sendPhoto(); });
  for (const button of document.querySelectorAll("[data-close]")) button.addEventListener("click", closeSheets);
  document.addEventListener("visibilitychange", reportRead);
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeSheets(); });

  init().catch((error) => showLocalError(`The simulator backend is not answering: ${error.message}`));
})();
