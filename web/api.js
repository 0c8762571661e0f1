// The dashboard's link to the gateway: requests with the user's key, the API's errors
// as they come, and a flare's server-sent events read over fetch (EventSource cannot
// send an Authorization header, and a key never goes in a URL).

const keyName = "burst.key";

// The key lives in the browser's local storage, for this origin only.
export const key = {
  get: () => localStorage.getItem(keyName) || "",
  set: (k) => localStorage.setItem(keyName, k.trim()),
  clear: () => localStorage.removeItem(keyName),
};

// An APIError is an answer other than 2xx: its status, the API's code and message.
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// onUnauthorized is called on every 401, so that the page can ask for a key.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

function headers(extra) {
  const h = new Headers(extra);
  const k = key.get();
  if (k) h.set("Authorization", "Bearer " + k);
  return h;
}

async function failure(res) {
  let code = "http_" + res.status;
  let message = res.statusText || "request failed";
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code;
      message = body.error.message;
    }
  } catch {
    // not the API's JSON error: keep the status line
  }
  if (res.status === 401) onUnauthorized(message);
  return new APIError(res.status, code, message);
}

// api calls the gateway and returns the answer's JSON (or with text, its text, as it
// came). body is sent as JSON, or as is when it is a Blob or an ArrayBuffer (a plugin).
export async function api(method, path, body, { signal, text } = {}) {
  const init = { method, signal, headers: headers({ Accept: "application/json" }) };
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    init.body = body;
    init.headers.set("Content-Type", "application/octet-stream");
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers.set("Content-Type", "application/json");
  }
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res);
  if (text) return res.text();
  return res.status === 204 ? null : res.json();
}

// events yields a flare's server-sent events as {event, id, data} with data parsed,
// reconnecting with Last-Event-ID when the stream drops, until the "end" event or the
// signal aborts.
export async function* events(path, signal) {
  let last = "";
  let failures = 0;
  while (!signal.aborted) {
    let ended = false;
    try {
      const h = headers({ Accept: "text/event-stream" });
      if (last) h.set("Last-Event-ID", last);
      const res = await fetch(path, { headers: h, signal });
      if (!res.ok) throw await failure(res);
      failures = 0;
      for await (const ev of parseStream(res.body, signal)) {
        if (ev.id) last = ev.id;
        yield ev;
        if (ev.event === "end") {
          ended = true;
          break;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof APIError && err.status < 500) throw err;
      failures++;
    }
    if (ended) return;
    // The stream dropped (a lag, a restart): try again, more slowly each time.
    await sleep(Math.min(250 * 2 ** failures, 5000), signal);
  }
}

async function* parseStream(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const stop = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  try {
    yield* parseLines(reader);
  } finally {
    signal.removeEventListener("abort", stop);
    stop();
  }
}

async function* parseLines(reader) {
  let buf = "";
  let ev = { event: "message", id: "", data: "" };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      if (line === "") {
        if (ev.data !== "") yield { event: ev.event, id: ev.id, data: JSON.parse(ev.data) };
        ev = { event: "message", id: "", data: "" };
        continue;
      }
      if (line.startsWith(":")) continue; // a keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") ev.event = value;
      else if (field === "id") ev.id = value;
      else if (field === "data") ev.data += (ev.data ? "\n" : "") + value;
    }
  }
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const stop = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    signal?.addEventListener("abort", stop, { once: true });
  });
}
