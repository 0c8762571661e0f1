// Package web is the flare dashboard: plain HTML, CSS and ES modules with no build
// step, embedded in the binary and served by the gateway at / (to a browser) and
// /ui/ (its files). It talks to the gateway's own API, with the key the user gives
// it, and to nothing else.
package web

import "embed"

// Files are the dashboard's files; index.html is its page.
//
//go:embed index.html *.css *.js
var Files embed.FS
