package invoice_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/server/invoice"
)

// fakeSMTP is a minimal in-process SMTP submission server, a fake named as
// one: no Debian MTA is installed here. It speaks the part of RFC 5321 that
// net/smtp uses (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT), offers
// AUTH only after STARTTLS as real servers do, and refuses the recipient
// "nobody@example.cn" with 550.
type fakeSMTP struct {
	ln       net.Listener
	tls      *tls.Config
	noTLS    bool // do not offer STARTTLS
	smtputf8 bool // offer SMTPUTF8 (set with offerSMTPUTF8)
	user     string
	password string

	mu       sync.Mutex
	messages []fakeMessage
	sawClear []string // commands seen before TLS
}

type fakeMessage struct {
	from, to string
	mail     string // the MAIL command line
	data     string
	authed   bool
}

func startFakeSMTP(t *testing.T, noTLS bool) (*fakeSMTP, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.test"},
		DNSNames: []string{"mail.test"}, NotBefore: at.Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSMTP{ln: ln, noTLS: noTLS, user: "invoices@ca.test", password: "smtp secret",
		tls: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return f, pool
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r, w := bufio.NewReader(c), c
	say := func(s string) { _, _ = io.WriteString(w, s+"\r\n") }
	say("220 mail.test ESMTP fake")
	secure, authed := false, false
	var cur fakeMessage
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		if !secure {
			f.mu.Lock()
			f.sawClear = append(f.sawClear, cmd)
			f.mu.Unlock()
		}
		switch {
		case cmd == "EHLO" || cmd == "HELO":
			ext := []string{"250-mail.test"}
			if !secure && !f.noTLS {
				ext = append(ext, "250-STARTTLS")
			}
			if secure {
				ext = append(ext, "250-AUTH PLAIN")
			}
			f.mu.Lock()
			if f.smtputf8 {
				ext = append(ext, "250-SMTPUTF8")
			}
			f.mu.Unlock()
			ext = append(ext, "250 8BITMIME")
			for _, e := range ext {
				say(e)
			}
		case cmd == "STARTTLS" && !f.noTLS && !secure:
			say("220 go ahead")
			tc := tls.Server(c, f.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			r, w, secure = bufio.NewReader(tc), tc, true
		case cmd == "AUTH" && secure:
			parts := strings.Fields(line)
			raw, _ := base64.StdEncoding.DecodeString(parts[len(parts)-1])
			if string(raw) == "\x00"+f.user+"\x00"+f.password {
				authed = true
				say("235 ok")
			} else {
				say("535 bad credentials")
			}
		case cmd == "MAIL":
			cur = fakeMessage{from: angle(line), mail: line, authed: authed}
			say("250 ok")
		case cmd == "RCPT":
			to := angle(line)
			if to == "nobody@example.cn" {
				say("550 no such user")
				continue
			}
			cur.to = to
			say("250 ok")
		case cmd == "DATA":
			say("354 end with .")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			cur.data = b.String()
			f.mu.Lock()
			f.messages = append(f.messages, cur)
			f.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

// angle returns the <path> of a MAIL or RCPT command (parameters such as
// BODY=8BITMIME follow it).
func angle(line string) string {
	_, rest, _ := strings.Cut(line, "<")
	path, _, _ := strings.Cut(rest, ">")
	return path
}

func (f *fakeSMTP) got() ([]fakeMessage, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeMessage(nil), f.messages...), append([]string(nil), f.sawClear...)
}

func TestSMTPSendsOverSTARTTLSWithAuth(t *testing.T) {
	f, pool := startFakeSMTP(t, false)
	m, err := invoice.NewSMTP(invoice.SMTPConfig{Addr: f.ln.Addr().String(), From: "invoices@ca.test",
		Username: f.user, Password: f.password, TLS: &tls.Config{RootCAs: pool, ServerName: "mail.test"}})
	if err != nil {
		t.Fatal(err)
	}
	body := "您的电子发票已开具：https://renew.ca.test/v1/x\n"
	if err := m.Send(context.Background(), invoice.Mail{To: "finance@example.cn", Subject: "电子发票 26327", Body: body}); err != nil {
		t.Fatal(err)
	}
	msgs, clear := f.got()
	if len(msgs) != 1 || msgs[0].from != "invoices@ca.test" || msgs[0].to != "finance@example.cn" || !msgs[0].authed {
		t.Fatalf("server got %+v", msgs)
	}
	for _, c := range clear {
		if c != "EHLO" && c != "STARTTLS" {
			t.Errorf("%s was sent before TLS", c)
		}
	}
	parsed, err := mail.ReadMessage(strings.NewReader(msgs[0].data))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
	raw, _ := io.ReadAll(parsed.Body)
	text, _ := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
	if subj != "电子发票 26327" || string(text) != body || parsed.Header.Get("To") != "finance@example.cn" {
		t.Errorf("message: subject %q body %q", subj, text)
	}

	// A recipient the server refuses is a rejection, not a retry.
	if err := m.Send(context.Background(), invoice.Mail{To: "nobody@example.cn", Subject: "s"}); !errors.Is(err, invoice.ErrMailRejected) {
		t.Errorf("refused recipient: %v", err)
	}
	// Wrong credentials fail and nothing is queued.
	bad, _ := invoice.NewSMTP(invoice.SMTPConfig{Addr: f.ln.Addr().String(), From: "invoices@ca.test",
		Username: f.user, Password: "wrong", TLS: &tls.Config{RootCAs: pool, ServerName: "mail.test"}})
	if err := bad.Send(context.Background(), invoice.Mail{To: "finance@example.cn", Subject: "s"}); err == nil || !strings.Contains(err.Error(), "auth") {
		t.Errorf("wrong password: %v", err)
	}
	// A certificate the client does not trust: nothing is sent.
	untrusted, _ := invoice.NewSMTP(invoice.SMTPConfig{Addr: f.ln.Addr().String(), From: "invoices@ca.test",
		Username: f.user, Password: f.password, TLS: &tls.Config{ServerName: "mail.test"}})
	if err := untrusted.Send(context.Background(), invoice.Mail{To: "finance@example.cn", Subject: "s"}); err == nil {
		t.Error("an untrusted server certificate was accepted")
	}
	if msgs, _ := f.got(); len(msgs) != 1 {
		t.Errorf("%d messages queued, want 1", len(msgs))
	}
}

func (f *fakeSMTP) offerSMTPUTF8() {
	f.mu.Lock()
	f.smtputf8 = true
	f.mu.Unlock()
}

// A Chinese domain is sent as punycode, in the envelope and the header. A
// Chinese user name is sent only to a server that offers SMTPUTF8; to any
// other it is a rejection, not malformed SMTP.
func TestSMTPInternationalAddresses(t *testing.T) {
	f, pool := startFakeSMTP(t, false)
	m, err := invoice.NewSMTP(invoice.SMTPConfig{Addr: f.ln.Addr().String(), From: "invoices@ca.test",
		Username: f.user, Password: f.password, TLS: &tls.Config{RootCAs: pool, ServerName: "mail.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), invoice.Mail{To: "finance@例子.中国", Subject: "电子发票", Body: "链接"}); err != nil {
		t.Fatal(err)
	}
	msgs, _ := f.got()
	if len(msgs) != 1 || msgs[0].to != "finance@xn--fsqu00a.xn--fiqs8s" || strings.Contains(msgs[0].mail, "SMTPUTF8") {
		t.Fatalf("server got %+v", msgs)
	}
	if parsed, err := mail.ReadMessage(strings.NewReader(msgs[0].data)); err != nil || parsed.Header.Get("To") != "finance@xn--fsqu00a.xn--fiqs8s" {
		t.Fatalf("header To: %v", err)
	}

	err = m.Send(context.Background(), invoice.Mail{To: "用户@例子.中国", Subject: "电子发票", Body: "链接"})
	if !errors.Is(err, invoice.ErrMailRejected) || !strings.Contains(err.Error(), "SMTPUTF8") {
		t.Fatalf("a Chinese user name to a server without SMTPUTF8: %v", err)
	}
	if msgs, _ := f.got(); len(msgs) != 1 {
		t.Fatalf("%d messages queued, want 1", len(msgs))
	}
	f.offerSMTPUTF8()
	if err := m.Send(context.Background(), invoice.Mail{To: "用户@例子.中国", Subject: "电子发票", Body: "链接"}); err != nil {
		t.Fatal(err)
	}
	msgs, _ = f.got()
	if len(msgs) != 2 || msgs[1].to != "用户@xn--fsqu00a.xn--fiqs8s" || !strings.HasSuffix(msgs[1].mail, " SMTPUTF8") {
		t.Fatalf("with SMTPUTF8 the server got %+v", msgs[1:])
	}
}

func TestSMTPRefusesAServerWithoutSTARTTLS(t *testing.T) {
	f, pool := startFakeSMTP(t, true)
	m, _ := invoice.NewSMTP(invoice.SMTPConfig{Addr: f.ln.Addr().String(), From: "invoices@ca.test",
		Username: f.user, Password: f.password, TLS: &tls.Config{RootCAs: pool, ServerName: "mail.test"}})
	err := m.Send(context.Background(), invoice.Mail{To: "finance@example.cn", Subject: "s"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("no STARTTLS: %v", err)
	}
	_, clear := f.got()
	for _, c := range clear {
		if c == "AUTH" || c == "MAIL" {
			t.Errorf("%s sent in clear", c)
		}
	}
}

func TestSMTPConfigAndTimeout(t *testing.T) {
	for _, cfg := range []invoice.SMTPConfig{
		{Addr: "no port", From: "a@ca.test"},
		{Addr: "127.0.0.1:25", From: "not an address"},
		{Addr: "127.0.0.1:25", From: "CA <a@ca.test>"},
	} {
		if _, err := invoice.NewSMTP(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	// A server that accepts and never greets: the send gives up at its timeout.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	m, _ := invoice.NewSMTP(invoice.SMTPConfig{Addr: ln.Addr().String(), From: "a@ca.test", Timeout: 200 * time.Millisecond})
	if err := m.Send(context.Background(), invoice.Mail{To: "finance@example.cn", Subject: "s"}); err == nil {
		t.Error("a silent server did not time out")
	}
}
