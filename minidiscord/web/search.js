// Search: the "Search" field in the top bar, the results it finds (the server's `search`),
// each a button that jumps to its message, and "More results" for the next page.

import { h } from "./dom.js";
import { formatTimestamp, isoTimestamp } from "./timefmt.js";

/**
 * Build the field into `bar` and the results panel into `below`. `ask(payload, done)` sends
 * `search` (done(error, reply)); `jump(channel, id)` shows a result's message.
 */
export function mountSearch(bar, below, { ask, jump }) {
  const field = h("input", {
    type: "search",
    class: "search-input",
    "aria-label": "Search",
    placeholder: "Search",
    maxlength: 200,
    autocomplete: "off",
  });
  const form = h("form", { class: "search-form", role: "search" }, field);
  const status = h("p", { class: "search-status", role: "status" });
  const list = h("ol", { class: "search-results" });
  const more = h("button", { type: "button", class: "secondary search-more", hidden: true }, "More results");
  const close = h("button", { type: "button", class: "icon-button", "aria-label": "Close search results" }, "×");
  const panel = h(
    "section",
    { class: "search-panel", role: "region", "aria-label": "Search results", hidden: true },
    h("div", { class: "search-head" }, status, close),
    list,
    more,
  );
  bar.append(form);
  below.append(panel);

  let query = "";
  let next = null;
  // Moved on by each new search and each close: a late reply to an earlier one is dropped,
  // not added to the results showing.
  let generation = 0;
  // A page asked for and not answered yet: a second click would ask for the same one.
  let pending = false;

  function hide() {
    generation += 1;
    pending = false;
    panel.hidden = true;
    list.replaceChildren();
  }

  function page(before) {
    const payload = before === null ? { query } : { query, before };
    const asked = generation;
    pending = true;
    ask(payload, (error, reply) => {
      if (asked !== generation) return;
      pending = false;
      if (error || reply?.ok !== true) {
        status.textContent = `Search failed: ${error ? error.message : String(reply?.error ?? "unknown error")}`;
        // The same page may be asked for again.
        more.hidden = next === null;
        return;
      }
      const results = Array.isArray(reply.results) ? reply.results : [];
      list.append(...results.map((result) => resultItem(result, () => {
        hide();
        jump(result.channel, result.id);
      })));
      next = Number.isInteger(reply.next) ? reply.next : null;
      more.hidden = next === null;
      const count = list.children.length;
      status.textContent = count === 0 ? "No messages found." : `${count} message${count === 1 ? "" : "s"} found${next === null ? "" : " so far"}.`;
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    query = field.value.trim();
    list.replaceChildren();
    if (!query) return hide();
    generation += 1;
    next = null;
    more.hidden = true;
    panel.hidden = false;
    status.textContent = "Searching…";
    page(null);
  });
  more.addEventListener("click", () => {
    if (!pending) page(next);
  });
  close.addEventListener("click", () => {
    hide();
    field.focus();
  });
  // Escape, in the field or the results, closes them (and leaves the focus in the field).
  for (const node of [form, panel]) {
    node.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || panel.hidden) return;
      event.stopPropagation();
      hide();
      field.focus();
    });
  }
  return { hide };
}

function resultItem(result, onChoose) {
  const valid = result && typeof result.channel === "string" && typeof result.snippet === "string";
  if (!valid) return h("li", { hidden: true });
  const button = h(
    "button",
    { type: "button", class: "search-result" },
    h("span", { class: "search-where" }, `#${result.channel} `, h("span", { class: "author" }, String(result.username ?? ""))),
    " ",
    h("time", { datetime: isoTimestamp(result.timestamp) }, formatTimestamp(result.timestamp, new Date())),
    h("span", { class: "search-snippet" }, result.snippet),
  );
  button.addEventListener("click", onChoose);
  return h("li", {}, button);
}
