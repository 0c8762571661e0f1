// A flare: its status and times, live progress, where its packs run, a timeline of its
// workers, the traffic between its packs, its logs and results. It follows the flare's
// events (GET /flares/{id}/events) while it runs, and draws at most once a frame.

import { api, events } from "./api.js";
import { badge, bytes, count, duration, errorBox, fill, final, flareDuration, h, statuses, when } from "./util.js";
import { describeLane, drawTimeline, laneAt } from "./timeline.js";

const maxLogRows = 500;
const maxLogLines = 20000; // kept in the page; the gateway keeps its own bound
const inlineResults = 10;
const maxPackSquares = 256; // per invoker; more are drawn as a bar

export async function flareView(main, { id, signal }) {
  let rec = await api("GET", "/flares/" + id, undefined, { signal });
  // Log lines come from GET …/logs and then from the events; a line that both bring (a
  // re-read after a reconnect) is kept once.
  let logs = [];
  const logKeys = new Set();
  const logKey = (l) => l.rank + "|" + l.time + "|" + l.msg;
  const addLogs = (lines) => {
    for (const l of lines) {
      const k = logKey(l);
      if (logKeys.has(k)) continue;
      logKeys.add(k);
      logs.push(l);
    }
    if (logs.length > maxLogLines) logs = logs.slice(-maxLogLines);
  };
  const readLogs = () => api("GET", "/flares/" + id + "/logs", undefined, { signal }).then((l) => addLogs(l.lines));
  await readLogs();
  let ending = "";
  const packEnded = (p) => (rec.workers || []).slice(p.ranks[0], p.ranks[1] + 1).every((w) => final(w.status));
  let endedPacks = new Set(rec.packs.filter(packEnded).map((p) => p.pack));

  // The parts of the page, made once and filled by draw().
  const title = h("h1", {});
  let cancelling = false;
  const cancelButton = h("button", { type: "button", id: "cancel", class: "danger", onclick: cancel }, "Cancel");
  const actions = h("div", { class: "actions" }, cancelButton,
    h("a", { class: "button", href: "#/run?again=" + encodeURIComponent(id), id: "run-again" }, "Run again…"));
  const facts = h("dl", { class: "facts" });
  const progress = h("div", { class: "progress", role: "img" });
  const legend = h("ul", { class: "legend", id: "progress-legend" });
  const placement = h("div", { class: "placement", id: "placement" });
  const packTable = h("tbody");
  const canvas = h("canvas", { id: "timeline", role: "img", tabindex: "0" });
  const hint = "Point at a lane, or focus the timeline and use the arrow keys, to see its workers.";
  const caption = h("p", { class: "muted", id: "timeline-caption", "aria-live": "polite" }, hint);
  const comm = h("div", { id: "comm" });
  const logRank = h("input", { type: "number", min: "0", id: "log-rank", placeholder: "all", inputmode: "numeric" });
  const logLevel = h("select", { id: "log-level" }, ["", "DEBUG", "INFO", "WARN", "ERROR"].map((l) => h("option", { value: l }, l || "any")));
  const logBody = h("tbody");
  const logNote = h("p", { class: "muted" });
  const results = h("div", { id: "results" });
  const problem = h("div");

  main.append(
    h("div", { class: "heading" }, title, actions),
    problem,
    facts,
    h("section", { "aria-labelledby": "h-progress" }, h("h2", { id: "h-progress" }, "Progress"), progress, legend),
    h("section", { "aria-labelledby": "h-placement" }, h("h2", { id: "h-placement" }, "Placement"), placement,
      h("details", {}, h("summary", {}, "Packs as a table"),
        h("table", { class: "list" }, h("thead", {}, h("tr", {}, ["Pack", "Invoker", "Ranks", "Status", "Start", "End"].map((t) => h("th", { scope: "col" }, t)))), packTable))),
    h("section", { "aria-labelledby": "h-timeline" }, h("h2", { id: "h-timeline" }, "Timeline"), h("div", { class: "canvas-box" }, canvas), caption),
    h("section", { "aria-labelledby": "h-comm" }, h("h2", { id: "h-comm" }, "Communication"), comm),
    h("section", { "aria-labelledby": "h-logs" }, h("h2", { id: "h-logs" }, "Logs"),
      h("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, h("label", {}, "Rank ", logRank), h("label", {}, "Level ", logLevel)),
      h("table", { class: "list logs", id: "logs" }, h("thead", {}, h("tr", {}, ["Time", "Rank", "Level", "Message"].map((t) => h("th", { scope: "col" }, t)))), logBody),
      logNote),
    h("section", { "aria-labelledby": "h-results" }, h("h2", { id: "h-results" }, "Results"), results));

  let lanes = null; // what the timeline drew, for the pointer and the keys
  let lane = -1; // the lane the caption describes
  const describe = (i) => {
    lane = i;
    caption.textContent = describeLane(lanes, i) || hint;
  };
  canvas.addEventListener("mousemove", (e) => {
    if (lanes) describe(laneAt(lanes, e.clientY - canvas.getBoundingClientRect().top));
  });
  canvas.addEventListener("keydown", (e) => {
    if (!lanes) return;
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10, Home: -Infinity, End: Infinity };
    if (!(e.key in moves)) return;
    e.preventDefault();
    describe(Math.max(0, Math.min(lanes.count - 1, lane + moves[e.key])));
  });
  logRank.addEventListener("input", () => drawLogs());
  logLevel.addEventListener("change", () => drawLogs());

  function drawHeader() {
    fill(title, rec.function, rec.version ? h("span", { class: "muted" }, " v" + rec.version) : "", " ", badge(rec.status),
      ending && !final(rec.status) ? h("span", { class: "muted" }, " ending: " + ending) : "");
    cancelButton.hidden = final(rec.status);
    cancelButton.disabled = cancelling;
    const d = flareDuration(rec);
    const fact = (k, v) => [h("dt", {}, k), h("dd", { id: "fact-" + k.toLowerCase() }, v)];
    fill(facts,
      ...fact("Flare", h("code", {}, rec.id)),
      ...fact("Workers", count(rec.size) + " in packs of " + count(rec.granularity) + " (" + count(Math.ceil(rec.size / rec.granularity)) + " packs" +
        (rec.join && rec.packs.length && rec.packs.length < Math.ceil(rec.size / rec.granularity) ? ", run as " + count(rec.packs.length) + " joined" : "") + ")"),
      ...fact("Backend", rec.backend),
      ...fact("Timeout", rec.timeout),
      ...fact("Created", when(rec.created)),
      ...fact("Started", rec.started ? when(rec.started) : "–"),
      ...fact("Ended", rec.ended ? when(rec.ended) : "–"),
      ...fact("Duration", duration(d)),
      ...(rec.error ? fact("Error", h("span", { class: "error-text", id: "flare-error" }, rec.error)) : []));
  }

  function packStatus(p) {
    const seen = new Set();
    for (let r = p.ranks[0]; r <= p.ranks[1]; r++) seen.add(rec.workers?.[r]?.status || "queued");
    return summarize(seen);
  }

  function drawProgress() {
    const n = {};
    for (const w of rec.workers || []) n[w.status] = (n[w.status] || 0) + 1;
    const total = rec.size || 1;
    fill(progress, ...statuses.filter((s) => n[s]).map((s) =>
      h("span", { class: "seg s-" + s, style: "width:" + (100 * n[s] / total) + "%", title: s + ": " + count(n[s]) })));
    progress.setAttribute("aria-label", statuses.filter((s) => n[s]).map((s) => count(n[s]) + " " + s).join(", ") || "no workers yet");
    fill(legend, ...statuses.filter((s) => n[s] || s === "queued" || s === "running" || s === "succeeded" || s === "failed")
      .map((s) => h("li", { dataset: { status: s } }, h("span", { class: "swatch s-" + s }), s.replace("_", " ") + " ", h("strong", {}, count(n[s] || 0)))));
  }

  function drawPlacement() {
    if (!rec.packs.length) {
      fill(placement, h("p", { class: "muted" }, rec.status === "queued" ? "Waiting for slots: not placed yet." : "Never placed."));
      fill(packTable);
      return;
    }
    const state = new Map(rec.packs.map((p) => [p.pack, packStatus(p)])); // once a draw
    const by = new Map();
    for (const p of rec.packs) {
      if (!by.has(p.invoker)) by.set(p.invoker, []);
      by.get(p.invoker).push(p);
    }
    fill(placement, ...[...by].map(([inv, packs]) => {
      const states = packs.map((p) => state.get(p.pack));
      const workers = packs.reduce((s, p) => s + p.ranks[1] - p.ranks[0] + 1, 0);
      let body;
      if (packs.length <= maxPackSquares) {
        body = h("ol", { class: "packs" }, packs.map((p, i) => h("li", {
          class: "pack s-" + states[i], dataset: { pack: p.pack, status: states[i] },
          title: "pack " + p.pack + ": ranks " + p.ranks[0] + "–" + p.ranks[1] + ", " + states[i],
        }, String(p.pack))));
      } else {
        const n = {};
        for (const s of states) n[s] = (n[s] || 0) + 1;
        body = h("div", { class: "progress small" }, statuses.filter((s) => n[s]).map((s) =>
          h("span", { class: "seg s-" + s, style: "width:" + (100 * n[s] / states.length) + "%", title: count(n[s]) + " packs " + s })));
      }
      const host = packs[0].host && packs[0].host !== inv ? " on " + packs[0].host : "";
      return h("article", { class: "invoker", dataset: { invoker: inv } },
        h("h3", {}, inv), h("p", { class: "muted" }, count(packs.length) + " packs, " + count(workers) + " workers" + host), body);
    }));
    fill(packTable, ...rec.packs.slice(0, 1000).map((p) => {
      const ws = (rec.workers || []).slice(p.ranks[0], p.ranks[1] + 1);
      const starts = ws.map((w) => w.start).filter(Boolean).sort();
      const ends = ws.map((w) => w.end).filter(Boolean).sort();
      return h("tr", {}, h("td", { class: "num" }, p.pack), h("td", {}, p.invoker), h("td", {}, p.ranks[0] + "–" + p.ranks[1]),
        h("td", {}, badge(state.get(p.pack))), h("td", {}, when(starts[0])), h("td", {}, ends.length === ws.length ? when(ends.at(-1)) : "–"));
    }));
  }

  function drawComm() {
    const c = rec.comm || {};
    const items = [
      ["Local", count(c.local_messages) + " messages, " + bytes(c.local_bytes)],
      ["Remote", count(c.remote_messages) + " messages, " + bytes(c.remote_bytes) +
        (c.lane_bytes ? " (" + bytes(c.lane_bytes) + " over lanes)" : "")],
    ];
    const parts = [h("dl", { class: "facts" }, items.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))];
    const t = rec.traffic;
    if (t && t.groups.length > 1) {
      const max = Math.max(1, ...t.bytes.flat());
      const label = (g) => g[0] === g[1] ? "pack " + g[0] : "packs " + g[0] + "–" + g[1];
      const small = t.groups.length <= 8;
      parts.push(h("p", { class: "muted", id: "matrix-caption" }, "Remote bytes from each pack (rows) to each pack (columns)" +
        (t.groups.length < (rec.packs.length || 0) ? ", consecutive packs grouped." : ".")));
      parts.push(h("table", { class: "matrix", id: "matrix", "aria-describedby": "matrix-caption" },
        h("thead", {}, h("tr", {}, h("td", {}), t.groups.map((g) => h("th", { scope: "col", title: label(g) }, small ? label(g) : g[0])))),
        h("tbody", {}, t.bytes.map((row, i) => h("tr", {}, h("th", { scope: "row", title: label(t.groups[i]) }, small ? label(t.groups[i]) : t.groups[i][0]),
          row.map((v, j) => h("td", {
            // A matrix with numbers in it is tinted only lightly, so they stay readable.
            style: "--heat:" + (v ? (small ? 0.45 : 1) * (0.12 + 0.88 * Math.sqrt(v / max)) : 0).toFixed(3),
            title: label(t.groups[i]) + " → " + label(t.groups[j]) + ": " + bytes(v),
          }, small ? (v ? bytes(v) : "·") : "")))))));
    } else {
      parts.push(h("p", { class: "muted" }, rec.packs.length === 1 || rec.size === rec.granularity
        ? "One pack: every message stayed in memory."
        : final(rec.status) ? "No traffic between packs." : "The matrix of traffic between packs comes as packs end."));
    }
    fill(comm, ...parts);
  }

  function drawLogs() {
    const rank = logRank.value === "" ? -1 : Number(logRank.value);
    const level = logLevel.value;
    const shown = logs.filter((l) => (rank < 0 || l.rank === rank) && (!level || l.level === level));
    const rows = shown.slice(-maxLogRows);
    fill(logBody, ...rows.map((l) => h("tr", { class: "l-" + (l.level || "").toLowerCase() },
      h("td", {}, when(l.time)), h("td", { class: "num" }, l.rank), h("td", {}, l.level),
      h("td", {}, l.msg, l.attrs ? h("span", { class: "muted" }, " " + Object.entries(l.attrs).map(([k, v]) => k + "=" + v).join(" ")) : ""))));
    logNote.textContent = (shown.length > rows.length ? "The last " + rows.length + " of " + count(shown.length) + " lines. " : "") +
      (logs.length ? "" : final(rec.status) ? "No worker logged a line." : "Lines appear here as workers log them.");
  }

  let resultsShown = false;
  async function drawResults() {
    if (!final(rec.status)) {
      fill(results, h("p", { class: "muted" }, "Results come when the flare ends."));
      return;
    }
    if (resultsShown) return;
    resultsShown = true;
    // The download is the API's answer as it came; the page shows the first ranks.
    const text = await api("GET", "/flares/" + id + "/results", undefined, { signal, text: true });
    const res = JSON.parse(text);
    const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    signal.addEventListener("abort", () => URL.revokeObjectURL(url), { once: true });
    const failed = (i) => rec.workers?.[i] && rec.workers[i].status !== "succeeded";
    fill(results,
      h("ol", { class: "results", start: "0" }, res.results.slice(0, inlineResults).map((v, i) =>
        h("li", { value: i }, h("pre", {}, failed(i) ? "— " + rec.workers[i].status.replace("_", " ") : clip(JSON.stringify(v)))))),
      res.results.length > inlineResults ? h("p", { class: "muted" }, "Ranks 0–" + (inlineResults - 1) + " of " + count(res.results.length) + ".") : null,
      h("a", { class: "button", href: url, download: "flare-" + id + "-results.json", id: "download-results" }, "Download all results (JSON)"));
  }

  function drawTimelineNow() {
    lanes = drawTimeline(canvas, rec);
    if (lane >= 0) describe(Math.min(lane, lanes.count - 1));
    canvas.setAttribute("aria-label", "Timeline of " + count(rec.size) + " workers in " + lanes.count + " lanes, " + lanes.unit);
  }

  let pending = false;
  function draw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      if (signal.aborted) return;
      drawHeader();
      drawProgress();
      drawPlacement();
      drawTimelineNow();
      drawComm();
      drawLogs();
      drawResults().catch((err) => {
        if (signal.aborted) return; // the page was left while its results came
        console.error(err);
        fill(results, errorBox(err));
      });
      if (!main.dataset.drawn) {
        // The first full draw: the benchmark and the browser tests wait for it.
        performance.mark("burst-drawn");
        main.dataset.drawn = id;
      }
    });
  }

  async function cancel() {
    cancelling = true;
    cancelButton.disabled = true;
    try {
      const r = await api("DELETE", "/flares/" + id, undefined, { signal });
      Object.assign(rec, r, { workers: rec.workers });
    } catch (err) {
      fill(problem, errorBox(err));
    }
    cancelling = false;
    draw();
  }

  // The running clock of a flare in flight.
  const clock = setInterval(() => { if (!final(rec.status)) { drawHeader(); drawTimelineNow(); } }, 1000);
  signal.addEventListener("abort", () => clearInterval(clock), { once: true });
  window.addEventListener("resize", draw, { signal });

  draw();
  if (final(rec.status)) return;
  try {
    for await (const ev of events("/flares/" + id + "/events", signal)) {
      apply(ev);
      draw();
    }
  } catch (err) {
    if (signal.aborted) return;
    console.error(err);
    fill(problem, errorBox(err));
  }

  function apply({ event, data }) {
    switch (event) {
      case "record": // the whole record: at the start, and after a missed stretch
        rec = data;
        endedPacks = new Set(rec.packs.filter((p) => packEnded(p)).map((p) => p.pack));
        readLogs().then(draw).catch(() => {}); // what was logged before the stream opened
        break;
      case "placed": // out of the queue, onto invokers
        Object.assign(rec, { packs: data.packs, started: data.started, status: data.status });
        break;
      case "started":
      case "workers":
      case "ended":
        for (const w of data.workers || []) {
          const r = rec.workers?.[w.rank];
          if (!r) continue;
          if (w.start) r.start = w.start;
          if (event === "started") {
            if (r.status === "queued") r.status = "running";
            continue;
          }
          if (w.status) r.status = w.status;
          if (w.end) r.end = w.end;
          if (w.error) r.error = w.error;
        }
        if (event === "started" && rec.status === "queued") rec.status = "running";
        if (event === "ended" && !endedPacks.has(data.pack)) { // a pack's traffic, counted once
          endedPacks.add(data.pack);
          if (data.comm) for (const k of Object.keys(data.comm)) rec.comm[k] = (rec.comm[k] || 0) + data.comm[k];
          addTraffic(rec, data.pack, data.traffic);
        }
        break;
      case "logs":
        addLogs(data.lines || []);
        break;
      case "status":
        ending = data.reason || data.status;
        break;
      case "end":
        // The final record, with what only it has (the traffic matrix, every worker).
        api("GET", "/flares/" + id, undefined, { signal }).then((r) => { rec = r; draw(); }).catch(() => {});
        readLogs().then(draw).catch(() => {});
        Object.assign(rec, data, { workers: rec.workers, packs: data.packs?.length ? data.packs : rec.packs });
        break;
    }
  }
}

// summarize says one status for a set of workers' statuses: running while any runs,
// the worst ending once all ended.
export function summarize(seen) {
  if (seen.size === 1) return [...seen][0];
  if (seen.has("running")) return "running";
  for (const s of ["failed", "timed_out", "cancelled", "aborted"]) if (seen.has(s)) return s;
  return seen.has("queued") ? "running" : "succeeded";
}

// addTraffic adds a pack's row of remote bytes (its ended event's) to the record's
// matrix, grouped as the gateway groups them (Record.Traffic).
function addTraffic(rec, pack, row) {
  const packs = rec.packs.length || Math.ceil(rec.size / rec.granularity);
  const n = Math.min(packs, 32);
  if (!row || row.length !== n || !row.some((v) => v > 0)) return;
  if (!rec.traffic) {
    const groups = Array.from({ length: n }, () => [packs, -1]);
    for (let p = 0; p < packs; p++) {
      const g = groups[Math.floor((p * n) / packs)];
      g[0] = Math.min(g[0], p);
      g[1] = Math.max(g[1], p);
    }
    rec.traffic = { groups, bytes: groups.map(() => new Array(n).fill(0)) };
  }
  const dst = rec.traffic.bytes[Math.floor((pack * n) / packs)];
  row.forEach((v, i) => { dst[i] += Math.max(v, 0); });
}

function clip(s) {
  return s.length > 2000 ? s.slice(0, 2000) + "…" : s;
}
