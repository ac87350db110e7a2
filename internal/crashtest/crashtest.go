// Package crashtest kills a payment notification receiver in the middle of
// applying a notification, for crash tests of server/payment and server.
//
// The receiver runs in a child process: the test binary itself, started
// again with an environment variable (the prefix) that its TestMain hands
// to Main. The parent owns the listening socket and passes it to each child
// in turn, so WeChat Pay's simulator keeps one notify URL across the kill
// and the restart. The child's ApplicationPayments, wrapped by Blocking,
// stops forever inside the notification's transaction once the payment
// state was written, and says so; the parent then SIGKILLs it there.
//
// It is used by tests only.
package crashtest

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// The child's lines on stdout.
const (
	readyLine    = "READY"    // serving on the passed socket
	applyingLine = "APPLYING" // stopped inside the notification's transaction
)

// WeChat is the WeChat Pay set-up that parent and child share: the merchant,
// and the simulator's address, TLS certificate and platform public key.
type WeChat struct {
	MchID, AppID, MerchantCertSerial, APIv3Key string
	MerchantKey                                *rsa.PrivateKey
	PublicKeyID                                string
	PublicKey                                  *rsa.PublicKey
	SimURL                                     string
	SimCert                                    *x509.Certificate
}

// Config is the provider configuration for w, trusting the simulator's certificate.
func (w WeChat) Config() payment.WeChatConfig {
	pool := x509.NewCertPool()
	pool.AddCert(w.SimCert)
	return payment.WeChatConfig{
		MchID: w.MchID, AppID: w.AppID, MerchantCertSerial: w.MerchantCertSerial, MerchantKey: w.MerchantKey,
		APIv3Key: w.APIv3Key, PublicKeyID: w.PublicKeyID, PublicKey: w.PublicKey, Endpoint: w.SimURL,
		HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
}

func (w WeChat) env(prefix string) []string {
	keyDER, err := x509.MarshalPKCS8PrivateKey(w.MerchantKey)
	if err != nil {
		panic(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(w.PublicKey)
	if err != nil {
		panic(err)
	}
	pemOf := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	return []string{
		prefix + "_MCH_ID=" + w.MchID, prefix + "_APP_ID=" + w.AppID,
		prefix + "_MCH_SERIAL=" + w.MerchantCertSerial, prefix + "_APIV3_KEY=" + w.APIv3Key,
		prefix + "_MCH_KEY=" + pemOf("PRIVATE KEY", keyDER),
		prefix + "_PUBKEY_ID=" + w.PublicKeyID,
		prefix + "_PUBKEY=" + pemOf("PUBLIC KEY", pubDER),
		prefix + "_SIM_URL=" + w.SimURL,
		prefix + "_SIM_CA=" + pemOf("CERTIFICATE", w.SimCert.Raw),
	}
}

func weChatFromEnv(env func(string) string) (WeChat, error) {
	w := WeChat{MchID: env("MCH_ID"), AppID: env("APP_ID"), MerchantCertSerial: env("MCH_SERIAL"), APIv3Key: env("APIV3_KEY"),
		PublicKeyID: env("PUBKEY_ID"), SimURL: env("SIM_URL")}
	der := func(name string) ([]byte, error) {
		b, _ := pem.Decode([]byte(env(name)))
		if b == nil {
			return nil, fmt.Errorf("%s is not PEM", name)
		}
		return b.Bytes, nil
	}
	d, err := der("MCH_KEY")
	if err != nil {
		return w, err
	}
	k, err := x509.ParsePKCS8PrivateKey(d)
	if err != nil {
		return w, err
	}
	if d, err = der("PUBKEY"); err != nil {
		return w, err
	}
	pk, err := x509.ParsePKIXPublicKey(d)
	if err != nil {
		return w, err
	}
	if d, err = der("SIM_CA"); err != nil {
		return w, err
	}
	if w.SimCert, err = x509.ParseCertificate(d); err != nil {
		return w, err
	}
	var ok bool
	if w.MerchantKey, ok = k.(*rsa.PrivateKey); !ok {
		return w, fmt.Errorf("merchant key is a %T", k)
	}
	if w.PublicKey, ok = pk.(*rsa.PublicKey); !ok {
		return w, fmt.Errorf("platform key is a %T", pk)
	}
	return w, nil
}

// Child is the receiver's side, in the child process.
type Child struct {
	prefix string
	WeChat WeChat
	// Block says whether this child is the one to be killed.
	Block bool
}

// Env is the child's variable prefix_name, as the parent's Receiver.Env set it.
func (c *Child) Env(name string) string { return os.Getenv(c.prefix + "_" + name) }

// Provider is the WeChat Pay provider talking to the parent's simulator.
func (c *Child) Provider(ctx context.Context) (*payment.WeChat, error) {
	return payment.NewWeChat(ctx, c.WeChat.Config())
}

// Blocking wraps apps: when this child is the one to be killed, it stops
// forever inside the transaction right after apps wrote the payment state.
func (c *Child) Blocking(apps payment.ApplicationPayments) payment.ApplicationPayments {
	return blockingApps{apps, c.Block}
}

type blockingApps struct {
	payment.ApplicationPayments
	block bool
}

func (b blockingApps) SetPaymentState(ctx context.Context, tx *sql.Tx, id string, s renewal.Payment) error {
	if err := b.ApplicationPayments.SetPaymentState(ctx, tx, id, s); err != nil {
		return err
	}
	if b.block {
		fmt.Println(applyingLine)
		select {}
	}
	return nil
}

// Serve serves h on the socket the parent passed, until the process is killed.
func (c *Child) Serve(h http.Handler) error {
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return err
	}
	fmt.Println(readyLine)
	return http.Serve(ln, h)
}

// Main is for TestMain: in a child started with prefix=1 it runs child,
// which should end in c.Serve, and exits; otherwise it runs the tests.
func Main(m *testing.M, prefix string, child func(ctx context.Context, c *Child) error) {
	if os.Getenv(prefix) == "1" {
		c := &Child{prefix: prefix, Block: os.Getenv(prefix+"_BLOCK") == "1"}
		w, err := weChatFromEnv(c.Env)
		if err == nil {
			c.WeChat = w
			err = child(context.Background(), c)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Receiver is the parent's side: the listening socket that each child
// serves in turn.
type Receiver struct {
	t      testing.TB
	prefix string
	addr   string
	lf     *os.File
	// WeChat and Env (prefix_name=value each) are given to every child started.
	WeChat WeChat
	Env    map[string]string
}

// Listen opens the receivers' socket on the loopback; it is closed when the test ends.
func Listen(t testing.TB, prefix string) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lf.Close() })
	return &Receiver{t: t, prefix: prefix, addr: ln.Addr().String(), lf: lf}
}

// NotifyURL is the URL of path on the receivers' socket.
func (r *Receiver) NotifyURL(path string) string { return "http://" + r.addr + path }

// Start starts a child that serves the socket, and waits until it does.
func (r *Receiver) Start() {
	r.t.Helper()
	r.start(false)
}

// KillWhileApplying starts a child that stops inside the first notification
// it applies, calls trigger (which should make the simulator send one),
// waits until the child stopped there and SIGKILLs it.
func (r *Receiver) KillWhileApplying(trigger func()) {
	r.t.Helper()
	cmd, out := r.start(true)
	trigger()
	said := make(chan string, 1)
	go func() {
		out.Scan()
		said <- out.Text()
	}()
	select {
	case line := <-said:
		if line != applyingLine {
			r.t.Fatalf("child said %q", line)
		}
	case <-time.After(30 * time.Second):
		r.t.Fatal("the child never started applying")
	}
	if err := cmd.Process.Kill(); err != nil {
		r.t.Fatal(err)
	}
	_ = cmd.Wait()
}

func (r *Receiver) start(block bool) (*exec.Cmd, *bufio.Scanner) {
	r.t.Helper()
	env := append(os.Environ(), r.prefix+"=1", r.prefix+"_BLOCK="+map[bool]string{true: "1", false: "0"}[block])
	env = append(env, r.WeChat.env(r.prefix)...)
	for k, v := range r.Env {
		env = append(env, r.prefix+"_"+k+"="+v)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{r.lf}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != readyLine {
		r.t.Fatalf("child did not start: %q", sc.Text())
	}
	return cmd, sc
}
