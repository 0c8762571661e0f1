import { sleep } from "./api.js";

// Small helpers shared by the views: building elements, and saying numbers, times and
// statuses the same way everywhere.

// h builds an element: h("a", {href: "#/"}, "text", child). Attributes starting with
// "on" are listeners; null and false children are skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v; // the CSSOM: the page's policy refuses style attributes
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  fill(el, ...children);
  return el;
}

// fill appends children to el, as h does, after removing what el had.
export function fill(el, ...children) {
  el.replaceChildren();
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// The statuses of a flare and of a worker, in the order the dashboard lists them.
export const statuses = ["queued", "running", "succeeded", "failed", "timed_out", "cancelled", "aborted"];

export function final(status) {
  return status !== "queued" && status !== "running" && status !== "";
}

export function badge(status) {
  return h("span", { class: "badge s-" + status }, status.replace("_", " "));
}

export function bytes(n) {
  if (!n) return "0 B";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
}

export function count(n) {
  return Number(n || 0).toLocaleString("en");
}

// duration says milliseconds as "850 ms", "3.2 s", "4 m 05 s".
export function duration(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return "";
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  const m = Math.floor(ms / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  return m + " m " + String(s).padStart(2, "0") + " s";
}

export function time(t) {
  return t ? new Date(t) : null;
}

// ago says how long ago t was: "4 s ago".
export function ago(t) {
  const d = time(t);
  if (!d) return "";
  return duration(Math.max(0, Date.now() - d.getTime())) + " ago";
}

// when is a time element: the time of day, the full date in its title.
export function when(t) {
  const d = time(t);
  if (!d) return "";
  return h("time", { datetime: d.toISOString(), title: d.toLocaleString() }, d.toLocaleTimeString());
}

// flareDuration is how long a flare ran, or has run so far.
export function flareDuration(rec) {
  const start = time(rec.created);
  if (!start) return null;
  const end = time(rec.ended) || (final(rec.status) ? start : new Date());
  return end - start;
}

// errorBox shows an error as the API said it.
export function errorBox(err) {
  const code = err.code ? h("code", {}, err.code) : null;
  const retry = err.status === 401
    ? h("button", { type: "button", class: "quiet", onclick: () => window.dispatchEvent(new CustomEvent("burst:key", { detail: err.message })) }, "Enter a key")
    : null;
  return h("div", { class: "error", role: "alert" }, h("span", {}, code, code ? " " : null, err.message || String(err)), retry ? " " : null, retry);
}

export function short(id) {
  return id ? id.slice(0, 8) + "…" + id.slice(-4) : "";
}

// poll calls load now and every ms milliseconds until the signal aborts, showing its
// error in box (and clearing it once a call succeeds); a refused key stops it.
export async function poll(ms, signal, box, load) {
  while (!signal.aborted) {
    try {
      await load();
      fill(box);
    } catch (err) {
      if (signal.aborted) return;
      fill(box, errorBox(err));
      if (err.status === 401 || err.status === 403) return;
    }
    await sleep(ms, signal);
  }
}
