package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// routes builds the API: chi's request id, the request log and the panic handler on
// every route, and one /flares/{id} subrouter whose middleware checks the id.
func (g *Gateway) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, g.requestLog, recoverer(g.log))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf(http.StatusNotFound, CodeNotFound, "no such path %s", r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf(http.StatusMethodNotAllowed, CodeMethod, "%s is not allowed on %s", r.Method, r.URL.Path))
	})
	// Open to all: the index (or the dashboard), the dashboard's files, the API's
	// description and the probes.
	r.Get("/", g.getIndex)
	r.Get("/ui/*", getDashboardFile)
	r.Get("/openapi.json", g.getOpenAPI)
	r.Get("/livez", g.getLivez)
	r.Get("/readyz", g.getReadyz)
	// The rest needs a key's role (keys.go), when keys are enforced.
	read, run, develop, admin := g.allow(RoleReader), g.allow(RoleRunner), g.allow(RoleDeveloper), g.allow(RoleAdmin)
	r.With(read).Method(http.MethodGet, "/metrics", g.metrics.handler())
	r.Route("/functions", func(r chi.Router) {
		r.With(read).Get("/", g.listFunctions)
		r.Route("/{name}", func(r chi.Router) {
			// A key first: without one, 401, whatever the name.
			r.Use(read, nameCtx("function", functionKey))
			r.With(develop).Put("/", g.putFunction)
			r.Get("/", g.getFunction)
			r.With(develop).Delete("/", g.deleteFunction)
		})
	})
	r.Route("/datasets", func(r chi.Router) {
		r.With(read).Get("/", g.listDatasets)
		r.Route("/{name}", func(r chi.Router) {
			r.Use(read, nameCtx("dataset", datasetKey))
			r.With(develop).Put("/", g.putDataset)
			r.Get("/", g.getDataset)
			r.Get("/content", g.getDatasetContent)
			r.With(develop).Delete("/", g.deleteDataset)
		})
	})
	r.Route("/flares", func(r chi.Router) {
		r.With(run).Post("/", g.postFlare)
		r.With(read).Get("/", g.listFlares)
		r.Route("/{id}", func(r chi.Router) {
			r.Use(read, flareCtx, g.flareScope)
			r.Get("/", g.getFlare)
			r.With(run).Delete("/", g.deleteFlare)
			r.Get("/results", g.getResults)
			r.Get("/logs", g.getLogs)
			r.Get("/events", g.getEvents)
		})
	})
	r.With(read).Get("/invokers", g.listInvokers)
	r.Route("/namespaces", func(r chi.Router) {
		r.With(read).Get("/", g.listNamespaces)
		r.With(read).Get("/{name}", g.getNamespace)
		r.With(admin).Put("/{name}", g.putNamespace)
	})
	r.Route("/keys", func(r chi.Router) {
		r.Use(admin)
		r.Post("/", g.postKey)
		r.Get("/", g.listKeys)
		r.Delete("/{id}", g.deleteKey)
	})
	return r
}

type ctxKey int

const (
	flareIDKey ctxKey = iota
	functionKey
	datasetKey
	requestLogKey
)

// flareCtx puts the {id} of the path in the request's context, or answers 404 for an
// id that no flare can have.
func flareCtx(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		if !validFlareID(id) {
			writeError(w, r, errorf(http.StatusNotFound, CodeUnknownFlare, "no flare %q", id))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), flareIDKey, id)))
	})
}

func flareID(r *http.Request) string { return r.Context().Value(flareIDKey).(string) }

// validFlareID reports whether id could be a flare's: a UUID's letters, digits and
// dashes, as the gateway makes them.
func validFlareID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if c != '-' && (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// nameCtx puts the {name} of the path in the request's context under key, or answers
// 400 for a name no kind ("function", "dataset") can have.
func nameCtx(kind string, key ctxKey) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name := chi.URLParam(r, "name")
			if err := checkName(kind, name); err != nil {
				writeError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key, name)))
		})
	}
}

func functionName(r *http.Request) string { return r.Context().Value(functionKey).(string) }
func datasetName(r *http.Request) string  { return r.Context().Value(datasetKey).(string) }

// requestLog is what the request log learns while a request is served: the cause of a
// 5xx answer, which the client sees only as "internal".
type requestLog struct{ err error }

// requestLog logs every request once it is answered: method, path, status, bytes,
// duration and request id, and the cause of a 5xx at error level.
func (g *Gateway) requestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := middleware.GetReqID(r.Context())
		w.Header().Set(middleware.RequestIDHeader, id)
		if !g.log.Enabled(r.Context(), slog.LevelInfo) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rl := &requestLog{}
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r.WithContext(context.WithValue(r.Context(), requestLogKey, rl)))
		level := slog.LevelInfo
		attrs := []slog.Attr{
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", ww.Status()),
			slog.Int("bytes", ww.BytesWritten()), slog.Duration("took", time.Since(start)), slog.String("request", id),
		}
		if ww.Status() >= 500 {
			level = slog.LevelError
			if rl.err != nil {
				attrs = append(attrs, slog.String("err", rl.err.Error()))
			}
		}
		g.log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// recoverer answers a handler's panic with a JSON 500 and logs it, so one bad request
// does not take the gateway down.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v,
						"request", middleware.GetReqID(r.Context()))
					writeError(w, r, errorf(http.StatusInternalServerError, CodeInternal, "internal error"))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}
