package statuspage

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"
)

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// sourceTimeout bounds one call to the source: the page must answer even
// when some members do not.
const sourceTimeout = 5 * time.Second

// Page serves the status page: HTML by default, the JSON it polls with
// ?format=json. Mount it on the admin listener, e.g. at /status.
type Page struct {
	src Source
	log *slog.Logger
	now func() time.Time
}

var _ http.Handler = (*Page)(nil)

// New returns the page over src; log may be nil.
func New(src Source, log *slog.Logger) *Page {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Page{src: src, log: log, now: time.Now}
}

func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("format") == "json" {
		p.serveJSON(w, r)
		return
	}
	p.serveHTML(w)
}

func (p *Page) serveJSON(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), sourceTimeout)
	defer cancel()
	c, err := p.src.ClusterStatus(ctx)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		p.log.Warn("status page could not read the cluster status", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf("%v: %v", ErrUnavailable, err)})
		return
	}
	json.NewEncoder(w).Encode(summarize(c, p.now()))
}

func (p *Page) serveHTML(w http.ResponseWriter) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	n := base64.RawURLEncoding.EncodeToString(nonce)
	// Only the page's own inline script and style run, and the script may
	// fetch only from this origin.
	w.Header().Set("Content-Security-Policy", fmt.Sprintf(
		"default-src 'none'; script-src 'nonce-%s'; style-src 'nonce-%s'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", n, n))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTemplate.Execute(w, struct{ Nonce string }{n}); err != nil {
		p.log.Warn("status page render failed", "err", err)
	}
}
