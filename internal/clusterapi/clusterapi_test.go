package clusterapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var (
	errBusy  = errors.New("test: busy")
	errGone  = errors.New("test: gone")
	testCode = Table{
		{Name: "busy", Err: errBusy, Status: http.StatusServiceUnavailable},
		{Name: "gone", Err: errGone, Status: http.StatusNotFound},
	}
)

const secret = "clusterapi-test-secret"

func server(t *testing.T) *httptest.Server {
	m := NewMux(secret)
	m.HandleFunc("POST /v1/echo", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		if err := decodeJSON(r, &in); err != nil {
			WriteError(w, testCode, err)
			return
		}
		WriteJSON(w, http.StatusOK, in)
	})
	m.HandleFunc("GET /v1/busy", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, testCode, fmt.Errorf("the leader is away: %w", errBusy))
	})
	m.HandleFunc("GET /v1/odd", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, testCode, errors.New("something nobody named"))
	})
	m.HandleFunc("GET /v1/plain", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Client sent an HTTP request to an HTTPS server.", http.StatusBadRequest)
	})
	s := httptest.NewServer(m)
	t.Cleanup(s.Close)
	return s
}

func decodeJSON(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errGone, err)
	}
	return nil
}

func TestClientAndMux(t *testing.T) {
	s := server(t)
	addr := strings.TrimPrefix(s.URL, "http://")
	c := NewClient(secret, s.Client(), false, testCode)
	ctx := context.Background()

	var out map[string]string
	if err := c.Call(ctx, http.MethodPost, addr, "/v1/echo", nil, map[string]string{"a": "b"}, &out); err != nil || out["a"] != "b" {
		t.Fatalf("echo: %v %v", out, err)
	}
	err := c.Call(ctx, http.MethodGet, addr, "/v1/busy", nil, nil, nil)
	var ae *Error
	if !errors.Is(err, errBusy) || !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Code != "busy" {
		t.Fatalf("busy: %v (%#v)", err, ae)
	}
	if !strings.Contains(err.Error(), "http://"+addr+"/v1/busy") || !strings.Contains(err.Error(), "the leader is away") {
		t.Fatalf("error text names neither the URL nor the cause: %v", err)
	}
	if err := c.Call(ctx, http.MethodGet, addr, "/v1/odd", nil, nil, nil); !errors.Is(err, ErrRemote) || !errors.As(err, &ae) || ae.Code != CodeInternal || ae.Status != 500 {
		t.Fatalf("unnamed error: %v", err)
	}
	if err := c.Call(ctx, http.MethodGet, addr, "/v1/plain", nil, nil, nil); !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), "tls.node_dir") {
		t.Fatalf("a reply that is not the API's: %v", err)
	}
	if err := c.Call(ctx, http.MethodGet, addr, "/v1/nothing", nil, nil, nil); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("unknown route: %v", err)
	}

	wrong := NewClient("not-the-secret", s.Client(), false, testCode)
	if err := wrong.Call(ctx, http.MethodPost, addr, "/v1/echo", nil, map[string]string{}, nil); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code != CodeUnauthorized {
		t.Fatalf("wrong secret: %v", err)
	}
	resp, err := http.Get(s.URL + HealthPath)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("health without a secret: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestURLScheme(t *testing.T) {
	if u := NewClient(secret, nil, true, nil).URL("10.0.0.1:7001", "/v1/status"); u != "https://10.0.0.1:7001/v1/status" {
		t.Fatalf("TLS client URL %q", u)
	}
	if u := NewClient(secret, nil, false, nil).URL("127.0.0.1:7001", "/v1/status"); u != "http://127.0.0.1:7001/v1/status" {
		t.Fatalf("plain client URL %q", u)
	}
}

// A TLS client calls https:// and its errors name it, never http://.
func TestTLSClientErrorsNameHTTPS(t *testing.T) {
	m := NewMux(secret)
	m.HandleFunc("GET /v1/gone", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, testCode, errGone)
	})
	s := httptest.NewTLSServer(m)
	t.Cleanup(s.Close)
	addr := strings.TrimPrefix(s.URL, "https://")
	c := NewClient(secret, s.Client(), true, testCode)
	err := c.Call(context.Background(), http.MethodGet, addr, "/v1/gone", nil, nil, nil)
	if !errors.Is(err, errGone) || !strings.Contains(err.Error(), "https://"+addr+"/v1/gone") {
		t.Fatalf("TLS call: %v", err)
	}
	if strings.Contains(err.Error(), "http://") {
		t.Fatalf("a TLS client's error names http://: %v", err)
	}
}
