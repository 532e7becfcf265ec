// One chat item -> one bubble element. Plain strings go in with textContent; only WA.format's
// escaped HTML uses innerHTML. `ui` gives: businessName, mediaUrl(id), find(wamid), tap(...), openList(item).
(function () {
  "use strict";

  const SVG = {
    sent: '<svg viewBox="0 0 16 11" aria-hidden="true"><path d="M1.5 6.2 4.6 9.2 10.6 1.8"/></svg>',
    double: '<svg viewBox="0 0 18 11" aria-hidden="true"><path d="M1.2 6.2 4.3 9.2 10.3 1.8"/>' +
      '<path d="M7.6 8.4 8.5 9.2 14.5 1.8"/></svg>',
    clock: '<svg viewBox="0 0 16 16" aria-hidden="true"><circle cx="8" cy="8" r="6"/><path d="M8 4.5V8l2.4 1.6"/></svg>',
    error: '<svg viewBox="0 0 16 16" aria-hidden="true"><circle cx="8" cy="8" r="6.5"/><path d="M8 4.5v4.2M8 11.2v.2"/></svg>',
    reply: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M10 9V5l-7 7 7 7v-4.1c5 0 8.5 1.6 11 5.1-1-5-4-10-11-11z"/></svg>',
    list: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 6h2v2H3zm4 0h14v2H7zm-4 5h2v2H3zm4 0h14v2H7zm-4 5h2v2H3zm4 0h14v2H7z"/></svg>',
    doc: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zm0 7V3.5L19.5 9z"/></svg>',
  };
  const TICKS = { accepted: "clock", pending: "clock", sent: "sent", delivered: "double", read: "double", error: "error" };
  const LABELS = { accepted: "accepted by Meta", pending: "sending", sent: "sent", delivered: "delivered",
    read: "read", error: "not delivered" };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function formatted(text, className) {
    const node = el("div", className || "text");
    node.innerHTML = WA.format(text);
    return node;
  }

  function clock(time) {
    return new Date(time * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function ticks(status) {
    const node = el("span", `ticks ticks-${status}`);
    node.dataset.status = status;
    node.title = LABELS[status] || status;
    node.innerHTML = SVG[TICKS[status] || "clock"];
    return node;
  }

  // A short plain-text summary of an item, for quotes.
  function snippet(item) {
    const m = item.message || {};
    const inter = m.interactive || {};
    const text = (m.text && m.text.body) || (inter.body && inter.body.text) ||
      (inter.button_reply && inter.button_reply.title) || (inter.list_reply && inter.list_reply.title) ||
      (m.button && m.button.text) || (m[m.type] && m[m.type].caption) ||
      (m.template && `Template: ${m.template.name}`) || (m.type === "image" ? "Photo" : m.type || "");
    return text.length > 90 ? `${text.slice(0, 89)}…` : text;
  }

  function quote(ui, wamid) {
    const quoted = wamid && ui.find(wamid);
    if (!quoted) return null;
    const box = el("div", "quote");
    const text = el("div", "quote-text");
    text.innerHTML = WA.format(snippet(quoted));
    box.append(el("div", "quote-author", quoted.side === "user" ? "You" : ui.businessName), text);
    return box;
  }

  // Links must be http(s): a javascript: URL in a document card would run on click.
  function mediaSource(ui, media) {
    if (media.link) return /^https?:\/\//i.test(media.link) ? media.link : "";
    return media.id ? ui.mediaUrl(media.id) : "";
  }

  function media(ui, kind, obj) {
    const part = el("div", "media");
    const src = mediaSource(ui, obj || {});
    if (kind === "image" || kind === "sticker") {
      const img = el("img", kind === "sticker" ? "sticker" : "photo");
      img.alt = obj.caption || kind;
      img.src = src;
      img.addEventListener("load", () => ui.imageLoaded && ui.imageLoaded());
      part.append(img);
    } else if (kind === "video" || kind === "audio") {
      const player = el(kind);
      player.controls = true;
      player.src = src;
      part.append(player);
    } else {
      const card = el("a", "doc-card");
      card.href = src;
      card.target = "_blank";
      card.rel = "noopener noreferrer";
      const icon = el("span", "doc-icon");
      icon.innerHTML = SVG.doc;
      const name = obj.filename || src.split("/").pop() || "Document";
      const text = el("span", "doc-text");
      // The type as WhatsApp shows it under the name ("PDF"), from the file's extension.
      const extension = /\.([A-Za-z0-9]{1,5})$/.exec(name);
      text.append(el("span", "doc-name", name), el("span", "doc-type", extension ? extension[1].toUpperCase() : "FILE"));
      card.append(icon, text);
      part.append(card);
    }
    if (obj && obj.caption) part.append(formatted(obj.caption, "text caption"));
    return part;
  }

  function actionButton(icon, title, onClick, testid) {
    const button = el("button", "action");
    button.type = "button";
    button.dataset.testid = testid;
    const mark = el("span", "action-icon");
    mark.innerHTML = SVG[icon];
    button.append(mark, el("span", "action-title", title));
    button.addEventListener("click", onClick);
    return button;
  }

  function interactive(ui, item, inter, body, actions) {
    const header = inter.header || {};
    if (header.type === "text") body.append(el("div", "header-text", header.text));
    else if (header.type && header[header.type]) body.append(media(ui, header.type, header[header.type]));
    if (inter.body) body.append(formatted(inter.body.text));
    if (inter.footer) body.append(el("div", "footer-text", inter.footer.text));
    const action = inter.action || {};
    if (inter.type === "button") {
      for (const b of action.buttons || []) {
        const reply = b.reply || {};
        actions.push(actionButton("reply", reply.title, () =>
          ui.tap("button_reply", item.wamid, reply.id, reply.title), "reply-button"));
      }
    } else if (inter.type === "list") {
      actions.push(actionButton("list", action.button || "Choose", () => ui.openList(item), "list-open"));
    } else if (action.parameters && action.parameters.display_text) {
      body.append(el("div", "footer-text", action.parameters.display_text));
    }
  }

  function template(ui, item, tpl, body, actions) {
    body.append(el("div", "template-label", `Template: ${tpl.name} (${(tpl.language || {}).code || "?"})`));
    for (const component of tpl.components || []) {
      const params = component.parameters || [];
      if (component.type === "header") {
        for (const p of params) if (p[p.type] && p.type !== "text") body.append(media(ui, p.type, p[p.type]));
      } else if (component.type === "body") {
        const list = el("ol", "template-params");
        for (const p of params) list.append(el("li", null, p.text != null ? p.text : JSON.stringify(p[p.type])));
        body.append(list);
      } else if (component.type === "button") {
        const payload = (params[0] || {}).payload || (params[0] || {}).text || `button ${component.index}`;
        actions.push(actionButton("reply", payload, () => ui.tap("button", item.wamid, payload, payload),
          "template-button"));
      }
    }
  }

  function content(ui, item, body, actions) {
    const m = item.message || {};
    const kind = m.type || "text";
    const obj = m[kind] || {};
    if (kind === "text") body.append(formatted(obj.body));
    else if (kind === "interactive" && item.side === "user") {
      const reply = obj.button_reply || obj.list_reply || {};
      body.append(el("div", "text", reply.title));
      if (reply.description) body.append(el("div", "footer-text", reply.description));
    } else if (kind === "interactive") interactive(ui, item, obj, body, actions);
    else if (kind === "button") body.append(el("div", "text", obj.text));
    else if (kind === "template") template(ui, item, obj, body, actions);
    else if (["image", "video", "audio", "document", "sticker"].includes(kind)) body.append(media(ui, kind, obj));
    else if (kind === "location") {
      body.append(el("div", "text", `📍 ${[obj.name, obj.address].filter(Boolean).join(", ") ||
        `${obj.latitude}, ${obj.longitude}`}`));
    } else if (kind === "reaction") body.append(el("div", "text", `${obj.emoji || "∅"} reacted to a message`));
    else if (kind === "contacts") {
      body.append(el("div", "text", `👤 ${obj.map((c) => (c.name || {}).formatted_name).join(", ")}`));
    } else body.append(el("div", "text unsupported", `Unsupported message type: ${kind}`));
  }

  function render(item, ui) {
    const row = el("div", `row ${item.side}`);
    row.dataset.wamid = item.wamid;
    row.dataset.testid = "bubble";
    const bubble = el("div", "bubble");
    const body = el("div", "bubble-body");
    const context = (item.message || {}).context || {};
    const quoted = quote(ui, context.id || context.message_id);
    if (quoted) body.append(quoted);
    const actions = [];
    content(ui, item, body, actions);
    const meta = el("span", "meta");
    meta.append(el("time", null, clock(item.time)), ticks(item.status));
    body.append(meta);
    bubble.append(body);
    if (actions.length) {
      const bar = el("div", "actions");
      bar.append(...actions);
      bubble.append(bar);
    }
    row.append(bubble);
    if (item.status === "error") {
      const note = el("div", "error-note", item.error || "Not delivered.");
      note.dataset.testid = "error-bubble";
      row.append(note);
    }
    return row;
  }

  window.WA = window.WA || {};
  window.WA.renderItem = render;
  window.WA.snippet = snippet;
})();
