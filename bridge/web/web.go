package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

//go:embed dist
var dist embed.FS

// asset is one file of the page, with its gzip form when that is smaller.
type asset struct {
	body, gz []byte
	ctype    string
	etag     string
}

var (
	loadOnce sync.Once
	assets   map[string]*asset
	loadErr  error
)

// load reads and compresses the embedded files once.
func load() (map[string]*asset, error) {
	loadOnce.Do(func() {
		out := map[string]*asset{}
		loadErr = fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			body, err := dist.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(body)
			a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`,
				ctype: mime.TypeByExtension(path.Ext(p))}
			if a.ctype == "" {
				a.ctype = "application/octet-stream"
			}
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			_, _ = zw.Write(body)
			if zw.Close() == nil && buf.Len() < len(body) {
				a.gz = buf.Bytes()
			}
			out["/"+strings.TrimPrefix(p, "dist/")] = a
			return nil
		})
		assets = out
		if loadErr == nil && out["/index.html"] == nil {
			loadErr = fmt.Errorf("web: index.html missing from the embedded bundle")
		}
	})
	return assets, loadErr
}

// Files returns the names (with a leading slash) and sizes in bytes of the
// embedded files, and the gzip sizes as served.
func Files() (map[string][2]int, error) {
	as, err := load()
	if err != nil {
		return nil, err
	}
	out := make(map[string][2]int, len(as))
	for name, a := range as {
		gz := len(a.body)
		if a.gz != nil {
			gz = len(a.gz)
		}
		out[name] = [2]int{len(a.body), gz}
	}
	return out, nil
}

// Handler serves the inspector: "/" and "/index.html" are the page, the
// other embedded files are served by name, anything else is 404. It answers
// GET and HEAD, with an ETag (so reloads revalidate cheaply) and gzip when
// the client accepts it. Safe for concurrent use.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	as, err := load()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	name := r.URL.Path
	if name == "/" {
		name = "/index.html"
	}
	a := as[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && match == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// acceptsGzip reports whether Accept-Encoding lists gzip with a non-zero
// quality.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
