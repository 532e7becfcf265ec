// WhatsApp text formatting as HTML: *bold*, _italic_, ~strike~, ```mono```, `code`, > quote,
// links and line breaks. Everything else is escaped first, so message text can never inject HTML.
(function () {
  "use strict";

  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const HOLE = "\u0000";

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
  }

  // A marker pair counts when it hugs non-space text and is not inside a word: "*a*" yes, "2*3*4" no.
  function styleRegex(marker) {
    const m = marker === "*" ? "\\*" : marker;
    return new RegExp(
      `(^|[^\\p{L}\\p{N}${m}])${m}(?!\\s)([^\\n]*?[^\\s])${m}(?![\\p{L}\\p{N}${m}])`, "gu");
  }

  const STYLES = [["~", "s"], ["*", "strong"], ["_", "em"]].map(([marker, tag]) => [styleRegex(marker), tag]);

  function format(text) {
    const holes = [];
    const keep = (html) => `${HOLE}${holes.push(html) - 1}${HOLE}`;
    let out = String(text == null ? "" : text)
      .replace(/\u0000/g, "")
      .replace(/```([\s\S]+?)```/g, (_, code) => keep(`<code class="mono">${escapeHtml(code)}</code>`))
      .replace(/`([^`\n]+)`/g, (_, code) => keep(`<code class="inline">${escapeHtml(code)}</code>`))
      .replace(/\bhttps?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]*_~]/g, (url) =>
        keep(`<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${escapeHtml(url)}</a>`));
    out = escapeHtml(out);
    for (const [regex, tag] of STYLES) {
      out = out.replace(regex, (_, before, inner) => `${before}<${tag}>${inner}</${tag}>`);
    }
    out = out
      .split("\n")
      .map((line) => (line.startsWith("&gt; ") ? `<span class="quote-line">${line.slice(5)}</span>` : line))
      .join("<br>");
    return out.replace(/\u0000(\d+)\u0000/g, (_, i) => holes[Number(i)]);
  }

  window.WA = window.WA || {};
  window.WA.escapeHtml = escapeHtml;
  window.WA.format = format;
})();
