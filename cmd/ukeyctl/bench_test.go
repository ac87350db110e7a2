package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os/exec"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

// BenchmarkCertsVsPKCS11Tool runs `ukeyctl certs --json` and
// `pkcs11-tool --list-objects --type cert` on the same SoftHSM2 token with
// 20 certificates, as whole processes. Run by hand:
//
//	go test -run '^$' -bench CertsVsPKCS11Tool -benchtime 50x ./cmd/ukeyctl/
func BenchmarkCertsVsPKCS11Tool(b *testing.B) {
	tool := testenv.LookPath(b, "pkcs11-tool")
	env := softhsmtest.New(b)
	serial := env.InitToken(b, "twenty", soPIN, userPIN)
	for i := range 20 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)),
			Subject:   pkix.Name{CommonName: fmt.Sprintf("张三 %d", i), Organization: []string{"某某有限公司"}},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			b.Fatal(err)
		}
		env.ImportCert(b, serial, userPIN, der, []byte{byte(i + 1)}, fmt.Sprintf("cert %d", i))
	}
	bin := ukeyctlBinary(b)
	slot := env.Slot(b, serial)
	cases := []struct {
		name string
		args []string
	}{
		{"ukeyctl-certs-json", []string{bin, "certs", "--json", "--module", env.Module, "--token", serial}},
		{"pkcs11-tool-list-objects", []string{tool, "--module", env.Module, "--slot", slot, "--list-objects", "--type", "cert"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(c.args[0], c.args[1:]...)
				cmd.Env = env.Environ()
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
			}
		})
	}
}
