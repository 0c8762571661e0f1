package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
)

// The dashboard's tests drive the real pages in headless Chromium (Debian's chromium,
// which .ci/run installs) against a real cluster. Without a browser they skip, except
// with CI=true, where a missing browser fails the run.

// TestDashboardServed: a browser asking for / gets the page, under a policy that keeps
// it on this origin; curl and the client still get the JSON index; the files are
// served and nothing else under /ui/.
func TestDashboardServed(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	get := func(path, accept string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", c.url+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, `<script type="module" src="/ui/app.js">`) {
		t.Fatalf("GET / as a browser: %d %s\n%.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("the page's policy %q", csp)
	}
	for _, accept := range []string{"", "*/*", "application/json"} {
		resp, body := get("/", accept)
		var idx struct{ Name, OpenAPI string }
		if err := json.Unmarshal([]byte(body), &idx); err != nil || idx.Name != "burst" || resp.Header.Get("Vary") != "Accept" {
			t.Errorf("GET / with Accept %q: %v %.100s", accept, err, body)
		}
	}
	for _, f := range []string{"app.js", "api.js", "util.js", "flares.js", "flare.js", "timeline.js", "functions.js", "invokers.js", "style.css"} {
		resp, _ := get("/ui/"+f, "")
		want := "text/javascript"
		if strings.HasSuffix(f, ".css") {
			want = "text/css"
		} else if strings.HasSuffix(f, ".html") {
			want = "text/html"
		}
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) {
			t.Errorf("/ui/%s: %d %s", f, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	for _, p := range []string{"/ui/", "/ui/nope.js", "/ui/../gateway.go"} {
		c.apiError("GET", p, nil, http.StatusNotFound, CodeNotFound)
	}
}

// browser is a headless Chromium tab on the cluster's gateway that records what would
// make a page wrong: console errors, uncaught exceptions, the browser's own error log
// (a refused policy, a failed load) and any request that leaves the origin.
type browser struct {
	t      testing.TB
	ctx    context.Context
	origin string

	mu       sync.Mutex
	problems []string
	outside  []string
	requests []*network.Request
}

// chromium finds the browser, or skips the test; with CI=true a missing browser fails.
func chromium(t testing.TB) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH: the dashboard's tests need it (apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium); CI=true makes this a failure")
	return ""
}

func newBrowser(t testing.TB, origin string) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, origin: origin}
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.problems = append(b.problems, "console: "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.problems = append(b.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				b.problems = append(b.problems, fmt.Sprintf("log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request)
			u := ev.Request.URL
			if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:"+origin+"/") {
				b.outside = append(b.outside, u)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	b.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{})
		return err
	}))
	return b
}

// run runs actions in the tab, failing the test if they fail or take over 30 s.
func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v; problems so far: %v", err, b.seen())
	}
}

// get runs one action that returns a value.
func get[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v; problems so far: %v", err, b.seen())
	}
	return v
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	return get(b, chromedp.Evaluate[T](js))
}

func (b *browser) seen() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// check fails the test for every problem seen, but those that contain one of allowed
// (an API error the test asked for shows in the log as a failed load), and for any
// request that left the origin.
func (b *browser) check(allowed ...string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
next:
	for _, p := range b.problems {
		for _, a := range allowed {
			if strings.Contains(p, a) {
				continue next
			}
		}
		b.t.Errorf("the page had a problem: %s", p)
	}
	for _, u := range b.outside {
		b.t.Errorf("the page requested %s, outside its origin", u)
	}
	b.problems, b.outside = nil, nil
}

// open loads the dashboard at fragment (such as "#/invokers"), waits for sel, and checks
// that the page shows no error.
func (b *browser) open(fragment, sel string) {
	b.t.Helper()
	b.run(chromedp.Navigate(b.origin+"/"+fragment), chromedp.WaitVisible(chromedp.CSS(sel)))
	if alerts := eval[[]string](b, `[...document.querySelectorAll("main [role=alert]")].map((e) => e.textContent)`); len(alerts) > 0 {
		b.t.Errorf("%s shows errors: %q", fragment, alerts)
	}
}

// drawn is the selector of a flare's page once drawn.
func drawn(id string) string { return `main[data-drawn="` + id + `"]` }

// screenshot saves the page as docs/screenshots/NAME.png when BURST_SCREENSHOTS is set
// (to a directory); the README shows them.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("BURST_SCREENSHOTS")
	if dir == "" {
		return
	}
	b.run(chromedp.Sleep(300 * time.Millisecond))
	png := get(b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// colorScheme makes the page's prefers-color-scheme light or dark.
func (b *browser) colorScheme(scheme string) {
	b.t.Helper()
	b.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// contrastCheck lists the page's visible texts whose color and background have a
// contrast ratio under 4.5:1, WCAG's bound for normal text.
const contrastCheck = `(() => {
	const rgb = (c) => {
		const n = c.match(/[\d.]+/g).map(Number);
		return c.startsWith("color(") ? n.slice(0, 3).map((v) => v * 255) : n.slice(0, 3);
	};
	const alpha = (c) => { const n = c.match(/[\d.]+/g).map(Number); return n.length > 3 ? n[3] : 1; };
	const lum = (c) => {
		const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
		return 0.2126 * r + 0.7152 * g + 0.0722 * b;
	};
	const background = (el) => {
		for (; el; el = el.parentElement) {
			const c = getComputedStyle(el).backgroundColor;
			if (alpha(c) > 0) return c;
		}
		return getComputedStyle(document.documentElement).backgroundColor;
	};
	const low = [];
	for (const el of document.querySelectorAll("main *, header *")) {
		const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
		if (!own || !el.checkVisibility() || el.closest("[disabled]")) continue;
		const f = lum(getComputedStyle(el).color), b = lum(background(el));
		const ratio = (Math.max(f, b) + 0.05) / (Math.min(f, b) + 0.05);
		if (ratio < 4.5) low.push(el.tagName.toLowerCase() + "." + el.className + " " + JSON.stringify(el.textContent.trim().slice(0, 24)) + " " + ratio.toFixed(2));
	}
	return low;
})()`

func (b *browser) text(sel string) string {
	b.t.Helper()
	return get(b, chromedp.Text(chromedp.CSS(sel)))
}

// TestDashboardPages loads every page of the dashboard with flares of each kind behind
// it: each draws what the API says, with no console error and no request elsewhere.
func TestDashboardPages(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{4, 4}})
	b := newBrowser(t, c.url)
	call[FunctionRecord](c, "PUT", "/functions/pingpong", mustRead(t, plugin(t, "gateway/testdata/pingpong")), http.StatusCreated)
	km := c.run(map[string]any{"function": "kmeans", "size": 8, "granularity": 2,
		"input": map[string]any{"k": 3, "generate": map[string]any{"points": 3000, "seed": 1}, "iterations": 5}})
	failed := c.run(map[string]any{"function": "sleep", "size": 2, "input": "nonsense"})
	if km.Status != control.StatusSucceeded || failed.Status != control.StatusFailed {
		t.Fatalf("kmeans %s %q, bad sleep %s", km.Status, km.Error, failed.Status)
	}

	b.open("", "#flares tbody tr")
	var rows int
	rows = eval[int](b, `document.querySelectorAll("#flares tbody tr").length`)
	if rows != 2 || !strings.Contains(b.text("#flares tbody"), "kmeans") {
		t.Errorf("the list shows %d flares: %q", rows, b.text("#flares tbody"))
	}
	b.screenshot("flares")
	// A filter is a new query of the API.
	b.run(chromedp.SetValue(chromedp.CSS("#filter-status"), "failed"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#filter-status").dispatchEvent(new Event("change"))`),
		chromedp.WaitVisible(chromedp.CSS(`#flares tbody tr:only-child[data-status="failed"]`)))
	rows = eval[int](b, `document.querySelectorAll("#flares tbody tr").length`)
	if rows != 1 {
		t.Errorf("status=failed shows %d flares", rows)
	}

	// The kmeans flare: 4 packs on two invokers, their traffic in the matrix.
	b.open("#/flares/"+km.ID, drawn(km.ID))
	packs := eval[int](b, `document.querySelectorAll("#placement .pack.s-succeeded").length`)
	cells := eval[int](b, `document.querySelectorAll("#matrix tbody td").length`)
	if packs != 4 || cells != 16 {
		t.Errorf("placement shows %d succeeded packs, the matrix %d cells; want 4 and 16", packs, cells)
	}
	if got := b.text("#progress-legend"); !strings.Contains(got, "succeeded 8") {
		t.Errorf("progress legend %q", got)
	}
	// The download is the results as the API gives them.
	downloads := t.TempDir()
	b.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior,
			cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
		return err
	}), chromedp.Click(chromedp.CSS("#download-results")))
	var got FlareResults
	eventually(t, func() bool {
		data, err := os.ReadFile(filepath.Join(downloads, "flare-"+km.ID+"-results.json"))
		return err == nil && json.Unmarshal(data, &got) == nil
	}, "the results' download")
	if want := call[FlareResults](c, "GET", "/flares/"+km.ID+"/results", nil, http.StatusOK); mustJSON(t, got) != mustJSON(t, want) || len(got.Results) != 8 {
		t.Errorf("the download has\n%s\nthe API\n%s", mustJSON(t, got), mustJSON(t, want))
	}
	// The timeline answers the keyboard: the arrows walk its lanes.
	b.run(chromedp.Focus(chromedp.CSS("#timeline")), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown))
	if got := b.text("#timeline-caption"); !strings.HasPrefix(got, "rank 1: 1 worker, 1 succeeded") {
		t.Errorf("the caption after two arrows down: %q", got)
	}
	b.screenshot("flare")
	for _, scheme := range []string{"light", "dark"} {
		b.colorScheme(scheme)
		if low := eval[[]string](b, contrastCheck); len(low) > 0 {
			t.Errorf("%s: text under 4.5:1 contrast: %q", scheme, low)
		}
	}
	b.screenshot("flare-dark")
	b.colorScheme("light")

	b.open("#/flares/"+failed.ID, drawn(failed.ID))
	if got := b.text("#flare-error"); got != failed.Error || got == "" {
		t.Errorf("the failed flare's page says %q, the record %q", got, failed.Error)
	}
	b.open("#/functions", `#functions tr[data-function="pingpong"]`)
	if got := b.text(`#functions tr[data-function="pingpong"]`); !strings.Contains(got, "v1") || !strings.Contains(got, "go1.") {
		t.Errorf("the function's row %q", got)
	}
	b.screenshot("functions")
	b.open("#/invokers", `#invokers tr[data-invoker="inv1"]`)
	if got := b.text(`#invokers tr[data-invoker="inv0"]`); !strings.Contains(got, "ready") || !strings.Contains(got, "0 / 4") {
		t.Errorf("the invoker's row %q", got)
	}
	b.screenshot("invokers")
	// Pages of 50: 51 more flares make a second page, and Newer comes back.
	for range 51 {
		call[Record](c, "POST", "/flares", map[string]any{"function": "hello"}, http.StatusAccepted)
	}
	b.open("", `#flares tbody tr:nth-child(50)`)
	b.run(chromedp.Click(chromedp.CSS(".pager button:last-child")),
		chromedp.WaitVisible(chromedp.CSS(`#flares tbody tr[data-id="`+failed.ID+`"]`)))
	if rows = eval[int](b, `document.querySelectorAll("#flares tbody tr").length`); rows != 3 {
		t.Errorf("the second page has %d flares, want 3", rows)
	}
	b.run(chromedp.Click(chromedp.CSS(".pager button:first-child")),
		chromedp.WaitVisible(chromedp.CSS(`#flares tbody tr:nth-child(50)`)))
	// A flare of large messages between packs: the page says how much went over lanes.
	sorted := c.run(map[string]any{"function": "terasort", "size": 8, "granularity": 2,
		"input": map[string]any{"generate": map[string]any{"records": 100000, "seed": 2}}})
	b.open("#/flares/"+sorted.ID, drawn(sorted.ID))
	remote := eval[string](b, `[...document.querySelectorAll("dl.facts dt")].find((d) => d.textContent === "Remote").nextElementSibling.textContent`)
	if sorted.Comm.LaneBytes == 0 || !strings.Contains(remote, "over lanes") {
		t.Errorf("terasort in 4 packs: %d bytes over lanes, the page says %q", sorted.Comm.LaneBytes, remote)
	}
	b.open("#/run?function=kmeans", "#run-submit")
	b.open("#/nowhere", "main h1")
	b.check()
}

// TestDashboardRunAndCancel starts a flare from the form and watches it run and succeed
// on its page without reloading it; then cancels a running flare from its page.
func TestDashboardRunAndCancel(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	b := newBrowser(t, c.url)
	b.open("#/run", "#run-submit")
	b.run(chromedp.SetValue(chromedp.CSS("#run-function"), "sleep"),
		chromedp.SetValue(chromedp.CSS("#run-size"), "6"),
		chromedp.SetValue(chromedp.CSS("#run-granularity"), "2"),
		chromedp.SetValue(chromedp.CSS("#run-join"), "true"),
		chromedp.SetValue(chromedp.CSS("#run-input"), `{"duration": "1.5s"`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#run-input").dispatchEvent(new Event("input"))`))
	// Bad JSON is refused before anything is sent.
	disabled := eval[bool](b, `document.querySelector("#run-submit").disabled`)
	if msg := b.text("#run-input-error"); !disabled || !strings.HasPrefix(msg, "Not JSON") {
		t.Errorf("bad JSON: submit disabled %v, %q", disabled, msg)
	}
	b.run(chromedp.SetValue(chromedp.CSS("#run-input"), `"1.5s"`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#run-input").dispatchEvent(new Event("input"))`),
		chromedp.Click(chromedp.CSS("#run-submit")),
		chromedp.WaitVisible(chromedp.CSS("h1 .badge.s-running")))
	id := eval[string](b, `location.hash.slice("#/flares/".length)`)
	b.screenshot("flare-running")
	// The events stream moves it on.
	b.run(chromedp.WaitVisible(chromedp.CSS("h1 .badge.s-succeeded")),
		chromedp.WaitVisible(chromedp.CSS("#placement .pack.s-succeeded")))
	rec := call[Record](c, "GET", "/flares/"+id, nil, http.StatusOK)
	if rec.Status != control.StatusSucceeded || rec.Size != 6 || rec.Granularity != 2 || string(rec.Input) != `"1.5s"` ||
		!rec.Join || len(rec.Packs) != 1 {
		t.Errorf("the flare %s size %d g %d input %s, join %v in %d packs", rec.Status, rec.Size, rec.Granularity, rec.Input, rec.Join, len(rec.Packs))
	}
	if got := b.text("#fact-workers"); got != "6 in packs of 2 (3 packs, run as 1 joined)" {
		t.Errorf("workers: %q", got)
	}
	if got := b.text("#progress-legend"); !strings.Contains(got, "succeeded 6") {
		t.Errorf("progress legend %q", got)
	}
	// Each worker logged a line; the rank filter keeps one.
	b.run(chromedp.SetValue(chromedp.CSS("#log-rank"), "4"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#log-rank").dispatchEvent(new Event("input"))`))
	logs := call[FlareLogs](c, "GET", "/flares/"+id+"/logs?rank=4", nil, http.StatusOK)
	rows := eval[[]string](b, `[...document.querySelectorAll("#logs tbody tr td:nth-child(2)")].map(td => td.textContent)`)
	if len(rows) != len(logs.Lines) || len(rows) == 0 || slices.ContainsFunc(rows, func(r string) bool { return r != "4" }) {
		t.Errorf("logs of rank 4: the page shows ranks %q, the API %d lines", rows, len(logs.Lines))
	}

	// Run again fills the form from the flare.
	b.run(chromedp.Click(chromedp.CSS("#run-again")), chromedp.WaitVisible(chromedp.CSS("#run-submit")))
	size, input := get(b, chromedp.Value(chromedp.CSS("#run-size"))), get(b, chromedp.Value(chromedp.CSS("#run-input")))
	if joined := get(b, chromedp.Value(chromedp.CSS("#run-join"))); size != "6" || input != `"1.5s"` || joined != "true" {
		t.Errorf("run again: size %q input %q join %v", size, input, joined)
	}

	long := call[Record](c, "POST", "/flares", map[string]any{"function": "sleep", "size": 2, "input": "1m"}, http.StatusAccepted)
	b.open("#/flares/"+long.ID, "#cancel")
	b.run(chromedp.WaitVisible(chromedp.CSS("h1 .badge.s-running")),
		chromedp.Click(chromedp.CSS("#cancel")),
		chromedp.WaitVisible(chromedp.CSS("h1 .badge.s-cancelled")))
	if rec := call[Record](c, "GET", "/flares/"+long.ID, nil, http.StatusOK); rec.Status != control.StatusCancelled {
		t.Errorf("after Cancel the flare is %s", rec.Status)
	}
	b.check()
}

// TestDashboardLive: a flare's page opened while it waits in the queue shows it placed,
// running and done as it happens; a flare of more packs than the matrix has rows shows
// its traffic between groups of packs.
func TestDashboardLive(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{40}})
	b := newBrowser(t, c.url)
	hold := call[Record](c, "POST", "/flares", map[string]any{"function": "sleep", "size": 40, "input": "1m"}, http.StatusAccepted)
	queued := call[Record](c, "POST", "/flares", map[string]any{"function": "kmeans", "size": 4, "granularity": 2,
		"input": map[string]any{"k": 3, "generate": map[string]any{"points": 3000, "seed": 1}, "iterations": 5}}, http.StatusAccepted)
	b.open("#/flares/"+queued.ID, drawn(queued.ID))
	if got := b.text("#placement"); !strings.Contains(got, "Waiting for slots") || !strings.Contains(b.text("h1"), "queued") {
		t.Errorf("a queued flare's page: %q, %q", b.text("h1"), got)
	}
	call[Record](c, "DELETE", "/flares/"+hold.ID, nil, http.StatusOK)
	b.run(chromedp.WaitVisible(chromedp.CSS("h1 .badge.s-succeeded")),
		chromedp.WaitVisible(chromedp.CSS("#matrix")))
	packs := eval[int](b, `document.querySelectorAll("#placement .pack.s-succeeded").length`)
	started := b.text("#fact-started")
	if packs != 2 || started == "–" || started == "" {
		t.Errorf("after it ran: %d packs shown succeeded, started %q", packs, started)
	}

	wide := c.run(map[string]any{"function": "kmeans", "size": 40, "granularity": 1,
		"input": map[string]any{"k": 3, "generate": map[string]any{"points": 4000, "seed": 1}, "iterations": 2}})
	if wide.Status != control.StatusSucceeded || wide.Traffic == nil {
		t.Fatalf("kmeans of 40 packs: %s %q", wide.Status, wide.Error)
	}
	b.open("#/flares/"+wide.ID, "#matrix")
	cells := eval[int](b, `document.querySelectorAll("#matrix tbody td").length`)
	if n := comm.MaxTrafficGroups; cells != n*n || !strings.Contains(b.text("#matrix-caption"), "grouped") {
		t.Errorf("40 packs: %d cells, caption %q", cells, b.text("#matrix-caption"))
	}
	b.check()
}

// TestDashboardUpload: a good plugin registers from the page; a bad one shows the API's
// error, word for word, and registers nothing.
func TestDashboardUpload(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	b := newBrowser(t, c.url)
	bad := filepath.Join(t.TempDir(), "bad.so")
	if err := os.WriteFile(bad, []byte("not a plugin at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	status, body := c.do("PUT", "/functions/broken", []byte("not a plugin at all"))
	var want struct{ Error Error }
	if err := json.Unmarshal(body, &want); err != nil || status != http.StatusUnprocessableEntity || want.Error.Message == "" {
		t.Fatalf("the API refused garbage with %d %s", status, body)
	}
	upload := func(name, file string) {
		b.run(chromedp.SetValue(chromedp.CSS("#upload-name"), name),
			chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{file}),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("#upload-result").replaceChildren()`),
			chromedp.Click(chromedp.CSS(`#upload button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS("#upload-result .error, #upload-result .ok")))
	}
	b.open("#/functions", "#upload")
	upload("broken", bad)
	if got := b.text("#upload-result .error"); got != want.Error.Code+" "+want.Error.Message {
		t.Errorf("the page says %q; the API %+v", got, want.Error)
	}
	c.apiError("GET", "/functions/broken", nil, http.StatusNotFound, CodeUnknownFunction)
	upload("pingpong", plugin(t, "gateway/testdata/pingpong"))
	b.run(chromedp.WaitVisible(chromedp.CSS(`#functions tr[data-function="pingpong"]`)))
	call[FunctionRecord](c, "GET", "/functions/pingpong", nil, http.StatusOK)
	b.check("status of 422") // the refused upload's answer, logged by the browser
}

// TestDashboardKey: with keys enforced, the page asks for one, sends it in a header on
// every request, and never puts it in a URL.
func TestDashboardKey(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	admin := call[NewKey](c, "POST", "/keys", map[string]any{"role": "admin", "name": "ops"}, http.StatusCreated)
	c.key = admin.Secret
	c.run(map[string]any{"function": "hello", "size": 2})
	b := newBrowser(t, c.url)
	b.run(chromedp.Navigate(c.url+"/"), chromedp.WaitVisible(chromedp.CSS("#key-dialog[open]")))
	b.screenshot("key")
	b.run(chromedp.SendKeys(chromedp.CSS("#key-input"), admin.Secret),
		chromedp.Click(chromedp.CSS(`#key-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#flares tbody tr")))
	// A new load reads the kept key.
	b.run(chromedp.Navigate("about:blank"))
	b.open("#/invokers", `#invokers tr[data-invoker="inv0"]`)
	b.mu.Lock()
	authorized := 0
	for _, r := range b.requests {
		if strings.Contains(r.URL, admin.Secret) || strings.Contains(r.URL, strings.TrimPrefix(admin.Secret, "burst_")) {
			t.Errorf("the key is in a URL: %s", r.URL)
		}
		for k, v := range r.Headers {
			if strings.EqualFold(k, "Authorization") && fmt.Sprint(v) == "Bearer "+admin.Secret {
				authorized++
			}
		}
	}
	b.mu.Unlock()
	if authorized < 3 {
		t.Errorf("%d requests carried the key", authorized)
	}
	b.check("status of 401") // the first requests, before the key
}

// TestDashboardTenThousandWorkers draws the page of a flare of 10,000 workers.
func TestDashboardTenThousandWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 workers")
	}
	c := newCluster(t, clusterOptions{})
	rec := c.run(map[string]any{"function": "hello", "size": 10000, "granularity": 100})
	if rec.Status != control.StatusSucceeded {
		t.Fatalf("%s %q", rec.Status, rec.Error)
	}
	b := newBrowser(t, c.url)
	ms := b.drawTime(rec.ID)
	label := eval[string](b, `document.querySelector("#timeline").getAttribute("aria-label")`)
	packs := eval[int](b, `document.querySelectorAll("#placement .pack.s-succeeded").length`)
	if label != "Timeline of 10,000 workers in 100 lanes, a lane per pack" || packs != 100 {
		t.Errorf("timeline %q, %d packs drawn", label, packs)
	}
	// The canvas has the workers on it: every lane has the green of succeeded workers
	// (the grid is gray).
	painted := eval[int](b, `(() => {
		const c = document.querySelector("#timeline"), dpr = window.devicePixelRatio || 1;
		const lanes = +c.dataset.lanes, lh = +c.dataset.laneHeight * dpr, x0 = Math.ceil(+c.dataset.gutter * dpr);
		const ctx = c.getContext("2d");
		let n = 0;
		for (let i = 0; i < lanes; i++) {
			const d = ctx.getImageData(x0, Math.floor(i * lh), c.width - x0, 1).data;
			for (let j = 0; j < d.length; j += 4) if (d[j+3] > 0 && d[j+1] > d[j] + 40 && d[j+1] > d[j+2] + 30) { n++; break; }
		}
		return n; })()`)
	if painted != 100 {
		t.Errorf("%d of 100 lanes have workers drawn", painted)
	}
	t.Logf("first full draw in %.0f ms", ms)
	b.screenshot("flare-10000")
	b.check()
}

// drawTime loads a flare's page afresh and returns the milliseconds from the start of
// the navigation to the page's first full draw.
func (b *browser) drawTime(id string) float64 {
	b.t.Helper()
	b.run(chromedp.Navigate("about:blank"),
		chromedp.Navigate(b.origin+"/#/flares/"+id),
		chromedp.WaitVisible(chromedp.CSS(drawn(id))))
	return eval[float64](b, `performance.getEntriesByName("burst-drawn")[0].startTime`)
}

// BenchmarkDashboardDraw measures a flare's page from the start of its load to its first
// full draw (ms/draw), for a flare of 4 workers (the baseline) and of 10,000 in packs of
// 1,000, 100 and 10: a lane per pack up to 240 packs, grouped packs beyond.
func BenchmarkDashboardDraw(b *testing.B) {
	c := newCluster(b, clusterOptions{})
	br := newBrowser(b, c.url)
	for _, l := range []struct{ size, g int }{{4, 2}, {10000, 1000}, {10000, 100}, {10000, 10}} {
		rec := c.run(map[string]any{"function": "hello", "size": l.size, "granularity": l.g})
		if rec.Status != control.StatusSucceeded {
			b.Fatalf("%s %q", rec.Status, rec.Error)
		}
		b.Run(fmt.Sprintf("size=%d/g=%d", l.size, l.g), func(b *testing.B) {
			br.t = b
			var total float64
			for b.Loop() {
				total += br.drawTime(rec.ID)
			}
			b.ReportMetric(total/float64(b.N), "ms/draw")
		})
	}
	br.t = b
	br.check()
}
