package web_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arpcbridge/arpcbridge/bridge/web"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// MaxBundleGzip is the size budget of the whole page, gzipped.
const MaxBundleGzip = 200 << 10

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string,
) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandler(t *testing.T) {
	h := web.Handler()
	cases := []struct {
		method, path string
		hdr          map[string]string
		status       int
		ctype, body  string
		gzip         bool
	}{
		{"GET", "/", nil, 200, "text/html; charset=utf-8", `<tbody id="states">`, false},
		{"GET", "/index.html", nil, 200, "text/html; charset=utf-8", `inspector.js`, false},
		{"GET", "/inspector.js", map[string]string{"Accept-Encoding": "br, gzip"}, 200,
			"text/javascript; charset=utf-8", "__inspector", true},
		{"GET", "/inspector.js", map[string]string{"Accept-Encoding": "gzip;q=0"}, 200,
			"text/javascript; charset=utf-8", "__inspector", false},
		{"GET", "/inspector.css", nil, 200, "text/css; charset=utf-8", "data-status", false},
		{"HEAD", "/", nil, 200, "text/html; charset=utf-8", "", false},
		{"GET", "/nope", nil, 404, "", "", false},
		{"POST", "/", nil, 405, "", "", false},
	}
	for _, c := range cases {
		t.Run(c.method+c.path+c.hdr["Accept-Encoding"], func(t *testing.T) {
			w := get(t, h, c.method, c.path, c.hdr)
			require.Equal(t, c.status, w.Code, w.Body.String())
			if c.status != 200 {
				return
			}
			assert.Equal(t, c.ctype, w.Header().Get("Content-Type"))
			assert.NotEmpty(t, w.Header().Get("ETag"))
			body := w.Body.Bytes()
			if c.gzip {
				require.Equal(t, "gzip", w.Header().Get("Content-Encoding"))
				zr, err := gzip.NewReader(w.Body)
				require.NoError(t, err)
				body, err = io.ReadAll(zr)
				require.NoError(t, err)
			} else {
				assert.Empty(t, w.Header().Get("Content-Encoding"))
			}
			if c.method == "HEAD" {
				assert.Empty(t, body)
				return
			}
			// (not assert.Contains: it would print the whole bundle)
			assert.True(t, strings.Contains(string(body), c.body),
				"%s lacks %q", c.path, c.body)
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := web.Handler()
	etag := get(t, h, "GET", "/inspector.js", nil).Header().Get("ETag")
	w := get(t, h, "GET", "/inspector.js", map[string]string{"If-None-Match": etag})
	assert.Equal(t, http.StatusNotModified, w.Code)
	assert.Zero(t, w.Body.Len())
}

// TestBundleSize keeps the page within budget (gzipped, as served).
func TestBundleSize(t *testing.T) {
	files, err := web.Files()
	require.NoError(t, err)
	total := 0
	for name, sz := range files {
		assert.False(t, strings.HasSuffix(name, ".map"), "no source maps shipped")
		total += sz[1]
	}
	t.Logf("bundle: %d bytes gzipped (%.1f KiB) in %d files", total,
		float64(total)/1024, len(files))
	assert.LessOrEqual(t, total, MaxBundleGzip)
}
