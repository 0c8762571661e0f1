package gateway

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/burstgo/burst/web"
)

// The dashboard (package web) is served from the binary: its page at / to a client
// that asks for HTML (a browser), and its files under /ui/. Everything it shows comes
// from the API; the policy below keeps it from loading or sending anything elsewhere.
const dashboardPolicy = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// wantsHTML reports whether a request to / comes from a browser: its Accept names
// text/html. curl, the CLI and the client package get the JSON index.
func wantsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}

func dashboardHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", dashboardPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// The files change with the binary: a browser checks them again on every load.
	h.Set("Cache-Control", "no-cache")
}

// getDashboardFile answers GET /ui/{file}: one of the dashboard's files, no listing.
func getDashboardFile(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/ui/")
	if st, err := fs.Stat(web.Files, name); err != nil || st.IsDir() {
		writeError(w, r, errorf(http.StatusNotFound, CodeNotFound, "no such path %s", r.URL.Path))
		return
	}
	dashboardHeaders(w)
	http.ServeFileFS(w, r, web.Files, name)
}

// serveDashboard answers / with the dashboard's page.
func serveDashboard(w http.ResponseWriter, r *http.Request) {
	page, err := fs.ReadFile(web.Files, "index.html")
	if err != nil {
		writeError(w, r, err)
		return
	}
	dashboardHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}
