// Invokers: each one's state, slots in use, packs and how fresh its heartbeat is,
// read again every refresh interval.

import { api } from "./api.js";
import { ago, count, fill, h, poll } from "./util.js";

const refresh = 2000;

export async function invokersView(main, { signal }) {
  const body = h("tbody");
  const note = h("p", { class: "muted" });
  const error = h("div");
  main.append(
    h("h1", {}, "Invokers"),
    h("table", { class: "list", id: "invokers" },
      h("thead", {}, h("tr", {}, ["Invoker", "State", "Slots used", "Packs", "Heartbeat", "Host", "Isolation", "Build"].map((t) => h("th", { scope: "col" }, t)))),
      body),
    note, error);
  let shown = "";
  await poll(refresh, signal, error, async () => {
    const l = await api("GET", "/invokers", undefined, { signal });
    // The rows are made again only when something but the heartbeats changed, so that
    // focus stays put; the heartbeats' ages change in place.
    const sig = JSON.stringify(l.invokers.map((inv) => ({ ...inv, last_heartbeat: undefined })));
    if (sig !== shown) fill(body, ...l.invokers.map(row));
    else for (const inv of l.invokers) fill(body.querySelector(`tr[data-invoker="${CSS.escape(inv.id)}"] .heartbeat`), heartbeat(inv));
    shown = sig;
    note.textContent = l.invokers.length ? "" : "No invoker has joined: start one with burst invoker, or run burst serve.";
  });
}

function row(inv) {
  const used = inv.used || 0;
  return h("tr", { dataset: { invoker: inv.id, status: inv.status } },
    h("th", { scope: "row" }, inv.id),
    h("td", {}, h("span", { class: "badge i-" + inv.status }, inv.status), inv.reason ? h("div", { class: "muted" }, inv.reason) : null),
    h("td", {}, h("meter", { min: "0", max: String(inv.slots || 1), value: String(used), title: used + " of " + inv.slots }),
      " " + count(used) + " / " + count(inv.slots)),
    h("td", { class: "num" }, count(inv.packs)),
    h("td", { class: "heartbeat" }, heartbeat(inv)),
    h("td", {}, inv.host),
    h("td", {}, inv.isolation || "", inv.memory_limit ? h("span", { class: "muted" }, " (memory: " + inv.memory_limit + ")") : ""),
    h("td", {}, h("code", {}, inv.build || ("protocol " + inv.proto))));
}

function heartbeat(inv) {
  if (!inv.last_heartbeat) return "never";
  return h("time", { datetime: inv.last_heartbeat, title: new Date(inv.last_heartbeat).toLocaleString() }, ago(inv.last_heartbeat));
}
