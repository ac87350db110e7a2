package client_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// The client's cost per call over a bare net/http call to the same real
// service handler over loopback: GET /v1/policy (no database) and GET
// /v1/me (token lookup in SQLite). Run by hand:
//
//	go test ./client -run '^$' -bench . -benchtime 2000x -count 5
func BenchmarkPolicy(b *testing.B) {
	e := newEnv(b, envOptions{})
	b.Run("client", func(b *testing.B) {
		c, err := client.New(e.URL)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Policy(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		b.ReportAllocs()
		for b.Loop() {
			var p renewal.Policy
			bareGet(b, hc, e.URL+"/v1/policy", "", &p)
		}
	})
}

func BenchmarkMe(b *testing.B) {
	e := newEnv(b, envOptions{})
	c, err := client.New(e.URL)
	if err != nil {
		b.Fatal(err)
	}
	tok := e.smsSignIn(c, clerkMobile)
	b.Run("client", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Me(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		b.ReportAllocs()
		for b.Loop() {
			var u renewal.User
			bareGet(b, hc, e.URL+"/v1/me", tok.AccessToken, &u)
		}
	})
}

func bareGet(b *testing.B, hc *http.Client, url, token string, out any) {
	req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		b.Fatalf("%d %v", res.StatusCode, err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		b.Fatal(err)
	}
}

// cannedTransport answers every request in memory with the policy JSON, so
// the benchmark measures the client's own work, not the network's.
type cannedTransport struct{ body []byte }

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(c.body)), Request: r}, nil
}

func BenchmarkInMemory(b *testing.B) {
	body, _ := json.Marshal(renewal.DefaultPolicy())
	hc := &http.Client{Transport: cannedTransport{body}}
	b.Run("client", func(b *testing.B) {
		c, err := client.New("https://ca.example", client.WithHTTPClient(hc))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Policy(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var p renewal.Policy
			bareGet(b, hc, "https://ca.example/v1/policy", "", &p)
		}
	})
}
