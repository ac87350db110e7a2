package client_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
)

// testCAPEM is a fresh self-signed CA certificate, as PEM (httptest's
// servers all share one certificate, so it cannot stand for another CA).
func testCAPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "另一个 CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, DNSNames: []string{"example.com"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestPinnedCA(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"payment_timing":"before_review","finverify_required":true,"rekey_required":false,"window_before_days":90,"window_after_days":365,"prices_fen":[1,2,3],"finverify_max_tries":3}`))
	}))
	defer ts.Close()
	pinned := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	c, err := client.New(ts.URL, client.WithCA(pinned), client.WithRetry(0, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.Policy(t.Context()); err != nil || p.PricesFen != [3]int64{1, 2, 3} {
		t.Fatalf("with the pinned CA: %+v, %v", p, err)
	}
	// Another CA, or the system roots, do not vouch for this server.
	for name, opts := range map[string][]client.Option{
		"other CA":     {client.WithCA(testCAPEM(t))},
		"system roots": nil,
	} {
		c, err := client.New(ts.URL, append(opts, client.WithRetry(0, 1, 1))...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Policy(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
