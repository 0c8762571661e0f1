// The dashboard's shell: a router over the location's hash (#/flares/ID and so on), the
// key dialog, and the views, each of which renders into <main> and stops its updates
// when the signal it was given aborts.

import { key, setUnauthorizedHandler } from "./api.js";
import { flaresView } from "./flares.js";
import { flareView } from "./flare.js";
import { functionsView, runView } from "./functions.js";
import { invokersView } from "./invokers.js";
import { errorBox, h } from "./util.js";

const routes = [
  [/^#?\/?$/, "flares", flaresView],
  [/^#\/flares\/?$/, "flares", flaresView],
  [/^#\/flares\/([0-9a-f-]+)$/, "flares", flareView],
  [/^#\/run$/, "run", runView],
  [/^#\/functions$/, "functions", functionsView],
  [/^#\/invokers$/, "invokers", invokersView],
];

const main = document.getElementById("view");
let current = null; // the AbortController of the view shown

async function show() {
  current?.abort();
  current = new AbortController();
  const signal = current.signal;
  const [path, query] = location.hash.split("?");
  const params = new URLSearchParams(query || "");
  const route = routes.find(([re]) => re.test(path));
  for (const a of document.querySelectorAll("nav a")) {
    if (route && a.dataset.section === route[1]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  delete main.dataset.drawn;
  if (!route) {
    main.append(h("h1", {}, "Not found"), h("p", {}, "No page at ", h("code", {}, location.hash), ". ", h("a", { href: "#/" }, "Flares")));
    return;
  }
  const match = path.match(route[0]);
  try {
    await route[2](main, { id: match[1], params, signal });
  } catch (err) {
    if (signal.aborted) return;
    console.error(err);
    main.append(errorBox(err));
  }
}

// A 401 opens the key dialog (and an error's "Enter a key" button opens it again); the
// view is shown again with the key.
const dialog = document.getElementById("key-dialog");
const keyButton = document.getElementById("key-button");
const askKey = (message) => {
  if (dialog.open) return;
  document.getElementById("key-reason").textContent =
    (key.get() ? "The gateway refused the key: " + message + ". " : "This gateway enforces API keys. ") +
    "Paste a key (burst key create makes one); it stays in this browser and goes only to this gateway, in a header.";
  dialog.showModal();
};
setUnauthorizedHandler(askKey);
window.addEventListener("burst:key", (e) => askKey(e.detail));
document.getElementById("key-form").addEventListener("submit", () => {
  key.set(document.getElementById("key-input").value);
  document.getElementById("key-input").value = "";
  updateKeyButton();
  show();
});
keyButton.addEventListener("click", () => {
  key.clear();
  updateKeyButton();
  show();
});
function updateKeyButton() {
  keyButton.hidden = !key.get();
}

// The skip link moves the focus; it must not change the route.
document.querySelector(".skip").addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});

updateKeyButton();
window.addEventListener("hashchange", show);
show();
