package server_test

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// One source holds at most ConnsPerSource connections: the next is closed
// before a byte is read, another source is served meanwhile, and a closed
// connection frees its place. A trusted proxy is not counted.
func TestConnectionsPerSource(t *testing.T) {
	serve := func(cfg func(*server.Config)) string {
		r := renewdtest.New(t, renewdtest.Options{Config: cfg})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: r.Server.Handler()}
		go func() { _ = hs.Serve(r.Server.Listener(ln)) }()
		t.Cleanup(func() { _ = hs.Close() })
		return ln.Addr().String()
	}
	dial := func(addr string, from byte) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 3, from)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// served says whether c gets an answer to a request (a refused
	// connection is closed: the read ends at once with nothing).
	served := func(c net.Conn) bool {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: renewd\r\n\r\n"); err != nil {
			return false
		}
		b := make([]byte, 12)
		n, _ := io.ReadFull(c, b)
		return n == 12 && string(b) == "HTTP/1.1 200"
	}

	addr := serve(func(c *server.Config) { c.Limits.ConnsPerSource = 3 })
	var held []net.Conn
	for range 3 {
		c := dial(addr, 1)
		if !served(c) {
			t.Fatal("a connection within the bound was not served")
		}
		held = append(held, c)
	}
	if served(dial(addr, 1)) {
		t.Fatal("a fourth connection from one source was served")
	}
	if !served(dial(addr, 2)) {
		t.Fatal("another source was refused while the first held its connections")
	}
	_ = held[0].Close()
	ok := false
	for range 100 { // the server sees the close a moment later
		if served(dial(addr, 1)) {
			ok = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !ok {
		t.Fatal("a closed connection did not free its place")
	}

	// A trusted proxy carries every client: it is not bounded.
	addr = serve(func(c *server.Config) {
		c.Limits.ConnsPerSource = 2
		c.ClientIPHeader, c.TrustedProxies = "X-Real-IP", []netip.Prefix{netip.MustParsePrefix("127.0.3.9/32")}
	})
	for i := range 5 {
		if !served(dial(addr, 9)) {
			t.Fatalf("connection %d from the trusted proxy refused", i)
		}
	}
}
