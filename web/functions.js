// Functions: the registry (built-ins and uploaded plugins with their build and limits),
// a plugin upload, and the form that starts a flare.

import { api } from "./api.js";
import { bytes, errorBox, fill, h, when } from "./util.js";

export async function functionsView(main, { signal }) {
  const list = h("tbody");
  const uploadResult = h("div", { id: "upload-result", "aria-live": "polite" });
  const name = h("input", { id: "upload-name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_\\-]*", placeholder: "kmeans2", autocomplete: "off" });
  const file = h("input", { id: "upload-file", type: "file", required: true, accept: ".so,application/octet-stream" });
  const memory = h("input", { id: "upload-memory", placeholder: "256MiB", autocomplete: "off" });
  const timeout = h("input", { id: "upload-timeout", placeholder: "15m", autocomplete: "off" });

  async function load() {
    const l = await api("GET", "/functions", undefined, { signal });
    fill(list, ...l.functions.map(row));
  }

  async function upload(e) {
    e.preventDefault();
    const button = e.submitter;
    button.disabled = true;
    fill(uploadResult, h("p", { class: "muted" }, "Uploading and checking the plugin…"));
    try {
      const q = new URLSearchParams();
      if (memory.value.trim()) q.set("memory", memory.value.trim());
      if (timeout.value.trim()) q.set("timeout", timeout.value.trim());
      const f = await api("PUT", "/functions/" + encodeURIComponent(name.value) + (q.size ? "?" + q : ""), file.files[0], { signal });
      fill(uploadResult, h("p", { class: "ok", role: "status" }, "Registered ", h("strong", {}, f.name), " version " + f.version + "."));
      await load();
    } catch (err) {
      fill(uploadResult, errorBox(err));
    } finally {
      button.disabled = false;
    }
  }

  main.append(
    h("div", { class: "heading" }, h("h1", {}, "Functions"), h("a", { class: "button", href: "#/run" }, "Run a flare")),
    h("table", { class: "list", id: "functions" },
      h("thead", {}, h("tr", {}, ["Name", "Version", "Digest", "Go", "Size", "Registered", "Limits", ""].map((t) => h("th", { scope: "col" }, t)))),
      list),
    h("section", { "aria-labelledby": "h-upload" },
      h("h2", { id: "h-upload" }, "Upload a plugin"),
      h("p", { class: "muted" }, "A Go plugin built with ", h("code", {}, "burst fn build"),
        " (the toolchain and flags of this server). The gateway checks it before it registers it."),
      h("form", { id: "upload", class: "stack", onsubmit: upload },
        h("label", {}, "Name ", name),
        h("label", {}, "Plugin ", file),
        h("label", {}, "Memory per worker ", memory),
        h("label", {}, "Longest timeout ", timeout),
        h("div", {}, h("button", { type: "submit" }, "Upload"))),
      uploadResult));
  await load();
}

function limits(l) {
  if (!l || !l.memory) return "";
  return bytes(l.memory) + " a worker, " + l.timeout + ", logs " + bytes(l.log_bytes) + ", result " + bytes(l.result_bytes);
}

function row(f) {
  const settings = Object.entries(f.settings || {}).sort();
  return h("tr", { dataset: { function: f.name } },
    h("th", { scope: "row" }, f.name),
    h("td", {}, f.builtin ? "built in" : "v" + f.version),
    h("td", {}, f.digest ? h("code", { title: f.digest }, f.digest.slice(0, 12)) : ""),
    h("td", {}, f.go_version || "",
      settings.length ? h("details", {}, h("summary", {}, "build"),
        h("dl", { class: "facts small" }, settings.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, h("code", {}, v))]))) : null),
    h("td", { class: "num" }, f.bytes ? bytes(f.bytes) : ""),
    h("td", {}, f.created ? when(f.created) : ""),
    h("td", {}, limits(f.limits)),
    h("td", {}, h("a", { href: "#/run?function=" + encodeURIComponent(f.name) }, "Run…")));
}

// runView is the form that starts a flare: filled from ?function=NAME, or from a flare
// to run again (?again=ID). The input is checked as JSON before anything is sent.
export async function runView(main, { params, signal }) {
  const fns = (await api("GET", "/functions", undefined, { signal })).functions;
  let from = {};
  const again = params.get("again");
  if (again) {
    if (!/^[0-9a-f-]{36}$/.test(again)) throw new Error("again=" + again + " is no flare id");
    from = await api("GET", "/flares/" + again, undefined, { signal });
  }
  const chosen = from.function || params.get("function") || fns[0]?.name || "";
  if (chosen && !fns.some((f) => f.name === chosen)) {
    throw new Error("no function " + chosen + " any more: see Functions");
  }

  const fn = h("select", { id: "run-function", required: true }, fns.map((f) => h("option", { value: f.name, selected: f.name === chosen }, f.name)));
  const size = h("input", { id: "run-size", type: "number", min: "1", value: from.size || 1, required: true });
  const gran = h("input", { id: "run-granularity", type: "number", min: "1", placeholder: "all in one pack", value: from.granularity && from.granularity !== from.size ? from.granularity : "" });
  const backend = h("select", { id: "run-backend" }, ["nats", "jetstream", "memory"].map((b) => h("option", { value: b, selected: b === (from.backend || "nats") }, b)));
  // The gateway's default, unless the form says; Run again says what the flare did.
  const joinAs = from.id ? (from.join ? "true" : "false") : "";
  const join = h("select", { id: "run-join" }, [["", "the gateway's default"], ["true", "joined"], ["false", "apart"]]
    .map(([v, text]) => h("option", { value: v, selected: v === joinAs }, text)));
  const timeout = h("input", { id: "run-timeout", placeholder: "the function's default", value: from.timeout || "" });
  const input = h("textarea", { id: "run-input", rows: "6", spellcheck: "false", placeholder: '{"k": 4}' },
    from.input !== undefined ? JSON.stringify(from.input, null, 2) : "");
  const inputError = h("p", { class: "error-text", id: "run-input-error", "aria-live": "polite" });
  const submit = h("button", { type: "submit", id: "run-submit" }, "Start the flare");
  const result = h("div", { id: "run-result" });

  // parsed is the input as JSON, or an Error saying why it is not.
  const parsed = () => {
    const text = input.value.trim();
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch (err) {
      return new Error(err.message);
    }
  };
  const check = () => {
    const v = parsed();
    const bad = v instanceof Error;
    inputError.textContent = bad ? "Not JSON: " + v.message : "";
    input.setAttribute("aria-invalid", bad);
    submit.disabled = bad;
  };
  input.addEventListener("input", check);

  async function start(e) {
    e.preventDefault();
    const v = parsed();
    if (v instanceof Error) return;
    const req = { function: fn.value, size: Number(size.value), backend: backend.value };
    if (gran.value) req.granularity = Number(gran.value);
    if (join.value) req.join = join.value === "true";
    if (timeout.value.trim()) req.timeout = timeout.value.trim();
    if (v !== undefined) req.input = v;
    submit.disabled = true;
    try {
      const rec = await api("POST", "/flares", req, { signal });
      location.hash = "#/flares/" + rec.id;
    } catch (err) {
      fill(result, errorBox(err));
      submit.disabled = false;
    }
  }

  main.append(
    h("h1", {}, from.id ? "Run again" : "Run a flare"),
    from.id && from.input === undefined
      ? h("p", { class: "muted" }, "A flare's record keeps its input only when it was one value of at most 4 KiB: if it had another, give it again.")
      : null,
    h("form", { id: "run", class: "stack", onsubmit: start },
      h("label", {}, "Function ", fn),
      h("label", {}, "Workers ", size),
      h("label", {}, "Pack size ", gran),
      h("label", {}, "Backend ", backend),
      h("label", {}, "Packs placed on one invoker ", join),
      h("label", {}, "Timeout ", timeout),
      h("label", {}, "Input (JSON, to every worker) ", input),
      inputError,
      h("div", {}, submit)),
    result);
  check();
}
