// The timeline of a flare's workers on a canvas: a lane per worker when they are few, a
// lane per pack when the packs fit, else a lane per group of consecutive packs; each
// worker a bar from its start to its end (or now), colored by its status. Drawing is
// one pass over the workers, so 10,000 of them take a few milliseconds.

const maxLanes = 240;
const maxHeight = 480;
const gutter = 76; // the lanes' labels
const axis = 22;

// Colors of the statuses, read from the stylesheet so that light and dark agree.
function colors(canvas) {
  const css = getComputedStyle(canvas);
  const c = {};
  for (const s of ["queued", "running", "succeeded", "failed", "timed_out", "cancelled", "aborted"]) {
    c[s] = css.getPropertyValue("--c-" + s).trim() || "#888";
  }
  c.text = css.getPropertyValue("--fg-muted").trim() || "#666";
  c.grid = css.getPropertyValue("--border").trim() || "#ccc";
  return c;
}

// packOf returns a function from a rank to the pack it ran in: packs of granularity
// ranks, or the packs as placed when a joined flare merged some (uneven ranges).
function packOf(rec) {
  const firsts = (rec.packs || []).map((p) => p.ranks[0]);
  if (!rec.join || firsts.length === 0) return (r) => Math.floor(r / rec.granularity);
  return (r) => {
    let lo = 0, hi = firsts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (firsts[mid] <= r) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
}

// layout says what a lane is: unit "workers", "packs" or "groups of k packs".
function layout(rec) {
  const joined = rec.join && rec.packs && rec.packs.length > 0;
  const packs = joined ? rec.packs.length : Math.max(1, Math.ceil(rec.size / rec.granularity));
  const pack = packOf(rec);
  if (rec.size <= 64) return { count: rec.size, unit: "a lane per worker", lane: (r) => r, label: (i) => "rank " + i, per: 1 };
  if (packs <= maxLanes) {
    return { count: packs, unit: "a lane per pack", lane: pack, label: (i) => "pack " + i, per: joined ? 2 : rec.granularity };
  }
  const k = Math.ceil(packs / maxLanes);
  const count = Math.ceil(packs / k);
  return {
    count, unit: "a lane per " + k + " packs", per: k * rec.granularity,
    lane: (r) => Math.floor(pack(r) / k),
    label: (i) => "packs " + i * k + "–" + (Math.min(packs, (i + 1) * k) - 1),
  };
}

export function drawTimeline(canvas, rec) {
  const l = layout(rec);
  const laneH = l.count <= 24 ? 16 : Math.max(1, Math.floor(maxHeight / l.count));
  const width = Math.max(320, canvas.parentElement.clientWidth);
  const height = l.count * laneH + axis;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const c = colors(canvas);

  const now = Date.now();
  const workers = rec.workers || [];
  let t0 = Date.parse(rec.created);
  let t1 = rec.ended ? Date.parse(rec.ended) : now;
  for (const w of workers) {
    if (w.end) t1 = Math.max(t1, Date.parse(w.end));
  }
  if (!(t1 > t0)) t1 = t0 + 1;
  const plot = width - gutter - 8;
  const x = (t) => gutter + ((t - t0) / (t1 - t0)) * plot;

  // The axis: about six ticks at a round step.
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = c.text;
  ctx.strokeStyle = c.grid;
  ctx.lineWidth = 1;
  const step = niceStep((t1 - t0) / 6);
  ctx.textBaseline = "top";
  for (let t = 0; t <= t1 - t0; t += step) {
    const px = Math.round(x(t0 + t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(px, 0);
    ctx.lineTo(px, height - axis + 4);
    ctx.stroke();
    const label = tickLabel(t, step);
    const w = ctx.measureText(label).width;
    ctx.fillText(label, Math.min(px + 2, width - w - 2), height - axis + 6);
  }

  // The lanes' labels, when they are tall enough to read.
  if (laneH >= 11) {
    ctx.textBaseline = "middle";
    for (let i = 0; i < l.count; i++) ctx.fillText(l.label(i), 4, i * laneH + laneH / 2);
  } else {
    ctx.textBaseline = "top";
    ctx.fillText(l.label(0), 4, 0);
    ctx.textBaseline = "bottom";
    ctx.fillText(l.label(l.count - 1), 4, l.count * laneH);
  }

  // The workers, one color at a time; many to a lane overlap, so each is drawn half
  // transparent.
  ctx.globalAlpha = l.per === 1 ? 1 : 0.5;
  const gap = laneH >= 4 ? 1 : 0;
  const byStatus = new Map();
  for (const w of workers) {
    if (!w.start) continue;
    if (!byStatus.has(w.status)) byStatus.set(w.status, []);
    byStatus.get(w.status).push(w);
  }
  for (const [status, ws] of byStatus) {
    ctx.fillStyle = c[status] || "#888";
    for (const w of ws) {
      const a = x(Date.parse(w.start));
      const b = w.end ? x(Date.parse(w.end)) : x(now);
      ctx.fillRect(a, l.lane(w.rank) * laneH, Math.max(2, b - a), laneH - gap);
    }
  }
  ctx.globalAlpha = 1;
  canvas.dataset.lanes = l.count;
  canvas.dataset.laneHeight = laneH;
  canvas.dataset.gutter = gutter;
  return { ...l, laneH, t0, t1, x0: gutter, plot, rec };
}

// laneAt is the lane at height y of the canvas, or -1.
export function laneAt(lanes, y) {
  const i = Math.floor(y / lanes.laneH);
  return i >= 0 && i < lanes.count ? i : -1;
}

// describeLane says what lane i holds: its workers by status, and when they ran.
export function describeLane(lanes, i) {
  if (i < 0 || i >= lanes.count) return "";
  const ws = (lanes.rec.workers || []).filter((w) => lanes.lane(w.rank) === i);
  const n = {};
  let first = Infinity;
  let last = -Infinity;
  for (const w of ws) {
    n[w.status] = (n[w.status] || 0) + 1;
    if (w.start) first = Math.min(first, Date.parse(w.start) - lanes.t0);
    if (w.end) last = Math.max(last, Date.parse(w.end) - lanes.t0);
  }
  const states = Object.entries(n).map(([s, k]) => k + " " + s.replace("_", " ")).join(", ");
  const span = isFinite(first) ? ", from +" + tickLabel(first, 1) + (isFinite(last) ? " to +" + tickLabel(last, 1) : "") : "";
  return lanes.label(i) + ": " + ws.length + (ws.length === 1 ? " worker, " : " workers, ") + states + span;
}

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-3)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function tickLabel(ms, step) {
  if (step >= 1000 || ms >= 10000) return (ms / 1000).toFixed(step >= 1000 ? 0 : 1) + " s";
  return Math.round(ms) + " ms";
}
