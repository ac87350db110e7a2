package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// --dev hands out every sign-in code at /dev/outbox/sms: it refuses to
// listen on a network address unless told so by a loudly named flag.
func TestDevRefusesNetworkListen(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.168.1.20:18080", "10.1.2.3:8080", "renew.example:8080"} {
		data := filepath.Join(t.TempDir(), "data")
		var stderr bytes.Buffer
		err := run(context.Background(), []string{"--dev", "--data", data, "--listen", addr}, nil, &bytes.Buffer{}, &stderr, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "--dev-insecure-listen-any") || !strings.Contains(err.Error(), "/dev/outbox/sms") ||
			!strings.Contains(err.Error(), addr) {
			t.Errorf("--listen %s: %v", addr, err)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("--listen %s: the data directory was made before the refusal (%v)", addr, err)
		}
	}
	// Without --dev the flag means nothing and is refused.
	err := run(context.Background(), []string{"--dev-insecure-listen-any", "--config", "x.json"}, nil, &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "need --dev") {
		t.Errorf("--dev-insecure-listen-any without --dev: %v", err)
	}
}

// With the flag it listens where told, says so loudly, and the outbox
// still answers nobody but this machine's loopback: a request from this
// host's own network address is not found.
func TestDevInsecureListenAnyKeepsDevRoutesLocal(t *testing.T) {
	ip := networkIP(t)
	cmd := exec.Command(renewdBinary(t), "--dev", "--data", t.TempDir(), "--listen", net.JoinHostPort(ip, "0"), "--dev-insecure-listen-any")
	p := startCmd(t, cmd)
	if !strings.Contains(p.log(), `"level":"WARN","msg":"INSECURE: --dev-insecure-listen-any`) {
		t.Errorf("no loud warning:\n%s", p.log())
	}
	c := &client{t: t, base: "http://" + p.addr}
	if st := c.do("POST", "/v1/auth/sms-code", map[string]string{"mobile": DemoClerkMobile}, nil); st != http.StatusAccepted {
		t.Fatalf("sms-code from the network: %d", st)
	}
	for _, path := range []string{"/dev/outbox/sms", "/dev/outbox/sms?mobile=" + DemoClerkMobile, "/dev/outbox/bank"} {
		if st := c.do("GET", path, nil, nil); st != http.StatusNotFound {
			t.Errorf("%s from %s: %d", path, ip, st)
		}
	}
	if st := c.do("POST", "/dev/applications/x/pay", nil, nil); st != http.StatusNotFound {
		t.Errorf("dev pay from %s: %d", ip, st)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
}

// networkIP is an address of this host that is not loopback (the test is
// skipped on a host without one).
func networkIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("this host has no network address besides loopback")
	return ""
}
