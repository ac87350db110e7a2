package token_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/token"
)

// List every certificate on every token of a module, as a clerk sees them.
func Example_listCertificates() {
	ctx := context.Background()
	m, err := token.OpenModule("/usr/lib/softhsm/libsofthsm2.so")
	if err != nil {
		fmt.Println(err) // names the file and why it cannot be loaded
		return
	}
	defer m.Close()
	infos, err := m.Tokens(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Now()
	for _, ti := range infos {
		tok, err := m.Open(ctx, ti.Serial)
		if err != nil {
			fmt.Println(err)
			continue
		}
		certs, err := tok.Certificates(ctx) // no PIN needed
		tok.Close()
		if err != nil {
			fmt.Println(err)
			continue
		}
		for _, c := range certs {
			if c.Info == nil {
				fmt.Printf("%s: unreadable certificate %q: %s\n", ti.Label, c.Label, c.ParseError)
				continue
			}
			// Calendar days in the clerk's zone, as the GUI counts them.
			if n := renewal.DaysLeftIn(c.Info.NotAfter, now, time.Local); n < 0 {
				fmt.Printf("%s: %s expired %d days ago\n", ti.Label, c.Info.Subject.Holder(), -n)
			} else {
				fmt.Printf("%s: %s, %d days left\n", ti.Label, c.Info.Subject.Holder(), n)
			}
		}
	}
}

// Log in once, make a new key pair and a request signed on the token.
func Example_newKeyAndCSR() {
	ctx := context.Background()
	m, err := token.OpenModule("/usr/lib/softhsm/libsofthsm2.so")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	tok, err := m.Open(ctx, "fde77fc2b2ba19b0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tok.Close()
	pin := []byte("1111") // from the user; Login wipes it
	var pe *token.PINError
	if err := tok.Login(ctx, pin); errors.As(err, &pe) {
		fmt.Println("PIN refused; token says:", pe.State) // never retry on the user's behalf
		return
	} else if err != nil {
		fmt.Println(err)
		return
	}
	s, err := tok.GenerateKeyPair(ctx, token.KeySpec{Type: token.ECP256, Label: "张三"})
	if err != nil {
		fmt.Println(err)
		return
	}
	csr, err := token.CreateCSR(ctx, s, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "张三", Organization: []string{"某某有限公司"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("key %x, request of %d bytes\n", s.ID(), len(csr))
}
