// The flares: a live list, newest first, filtered by status and function, a page at a
// time. It reads GET /flares again every refresh interval while it is shown.

import { api } from "./api.js";
import { badge, count, duration, fill, flareDuration, h, poll, short, statuses, when } from "./util.js";

const refresh = 2000;
const pageSize = 50;

export async function flaresView(main, { params, signal }) {
  const status = params.get("status") || "";
  const fn = params.get("function") || "";
  const cursor = params.get("cursor") || "";
  // The cursors of the pages before, so that "Newer" can go back.
  const back = (params.get("back") || "").split(",").filter(Boolean);

  const go = (changes) => {
    const p = new URLSearchParams({ status, function: fn, cursor, back: back.join(",") });
    for (const [k, v] of Object.entries(changes)) p.set(k, v);
    for (const [k, v] of [...p]) if (!v) p.delete(k);
    location.hash = "#/flares" + (p.size ? "?" + p : "");
  };

  const statusSelect = h("select", { id: "filter-status", onchange: (e) => go({ status: e.target.value, cursor: "", back: "" }) },
    h("option", { value: "" }, "any status"),
    statuses.filter((s) => s !== "aborted").map((s) => h("option", { value: s, selected: s === status }, s.replace("_", " "))));
  const fnSelect = h("select", { id: "filter-function", onchange: (e) => go({ function: e.target.value, cursor: "", back: "" }) },
    h("option", { value: "" }, "any function"));
  if (fn) fnSelect.append(h("option", { value: fn, selected: true }, fn));
  api("GET", "/functions", undefined, { signal }).then((l) => {
    for (const f of l.functions) {
      if (f.name !== fn) fnSelect.append(h("option", { value: f.name }, f.name));
    }
  }).catch(() => {});

  const body = h("tbody");
  const note = h("p", { class: "muted", id: "flares-note" });
  const newer = h("button", { type: "button", disabled: !cursor, onclick: () => go({ cursor: back.at(-1) === "-" ? "" : back.at(-1) || "", back: back.slice(0, -1).join(",") }) }, "← Newer");
  const older = h("button", { type: "button", disabled: true }, "Older →");
  main.append(
    h("div", { class: "heading" }, h("h1", {}, "Flares"), h("a", { class: "button", href: "#/run" }, "Run a flare")),
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
      h("label", {}, "Status ", statusSelect), h("label", {}, "Function ", fnSelect)),
    h("table", { class: "list", id: "flares" },
      h("thead", {}, h("tr", {}, ["Flare", "Function", "Status", "Workers", "Backend", "Created", "Duration"].map((t) => h("th", { scope: "col" }, t)))),
      body),
    note,
    h("nav", { class: "pager", "aria-label": "Pages" }, newer, older));

  const error = h("div");
  main.append(error);
  let shown = "";
  await poll(refresh, signal, error, async () => {
    const q = new URLSearchParams({ limit: pageSize });
    if (status) q.set("status", status);
    if (fn) q.set("function", fn);
    if (cursor) q.set("cursor", cursor);
    const list = await api("GET", "/flares?" + q, undefined, { signal });
    // The rows are made again only when the page changed, so that focus stays put; the
    // running flares' durations tick in place.
    const sig = JSON.stringify(list);
    if (sig !== shown) fill(body, ...list.flares.map(row));
    else for (const f of list.flares) body.querySelector(`tr[data-id="${f.id}"] .duration`).textContent = duration(flareDuration(f));
    shown = sig;
    note.textContent = list.flares.length ? "" : "No flares" + (status || fn ? " match." : " yet: run one.");
    older.disabled = !list.next;
    older.onclick = () => go({ cursor: list.next, back: [...back, cursor || "-"].join(",") });
  });
}

function row(f) {
  return h("tr", { dataset: { id: f.id, status: f.status } },
    h("td", {}, h("a", { href: "#/flares/" + f.id, title: f.id }, h("code", {}, short(f.id)))),
    h("td", {}, f.function, f.version ? h("span", { class: "muted" }, " v" + f.version) : null),
    h("td", {}, badge(f.status)),
    h("td", { class: "num" }, count(f.size), h("span", { class: "muted" }, " / " + f.granularity)),
    h("td", {}, f.backend),
    h("td", {}, when(f.created)),
    h("td", { class: "num duration" }, duration(flareDuration(f))));
}
