package payment

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/server/payment/alipaysim"
	"github.com/ukeyrenew/ukeyrenew/server/payment/wechatsim"
)

// DevSimulator is the WeChat Pay simulator served on a loopback TLS port,
// with a WeChat provider wired to it through the real SDK path: what
// renewd --dev uses instead of api.mch.weixin.qq.com. Its merchant key,
// APIv3 key and platform key are made fresh at start and live in memory only.
//
// The same port serves the Alipay simulator at /gateway.do, with its dev
// endpoint at /alipay/sim/pay?out_trade_no=....
type DevSimulator struct {
	Sim      *wechatsim.Simulator
	URL      string // https://127.0.0.1:port; POST URL+"/sim/pay?out_trade_no=..." pays a WeChat order
	Provider *WeChat

	Alipay         *alipaysim.Simulator
	AlipayProvider *Alipay

	Client *http.Client // trusts the simulator's self-signed loopback certificate
	srv    *http.Server
}

// StartDevSimulator listens on addr (loopback only: the /sim/ endpoints have
// no authentication; "127.0.0.1:0" picks a port). clock is the business
// clock of the simulator (nil: time.Now).
func StartDevSimulator(ctx context.Context, addr string, clock func() time.Time) (*DevSimulator, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dev simulator: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("dev simulator: %q is not a loopback address: %w", addr, ErrInvalid)
	}
	mchKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("dev simulator: merchant key: %w", err)
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("dev simulator: %w", err)
	}
	apiV3Key := fmt.Sprintf("%x", secret) // 32 characters
	const mchID, appID, mchSerial = DevMchID, DevAppID, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	sim, err := wechatsim.New(wechatsim.Config{
		MchID: mchID, AppID: appID, MerchantCertSerial: mchSerial, MerchantPublicKey: &mchKey.PublicKey,
		APIv3Key: apiV3Key, Mode: wechatsim.ModePublicKey, Clock: clock,
	})
	if err != nil {
		return nil, fmt.Errorf("dev simulator: %w", err)
	}
	cert, pool, err := loopbackCert()
	if err != nil {
		return nil, fmt.Errorf("dev simulator: %w", err)
	}
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, fmt.Errorf("dev simulator: listen: %w", err)
	}
	ali, err := alipaysim.New(alipaysim.Config{AppID: devAlipayAppID, AppPublicKey: &mchKey.PublicKey, SellerID: devAlipaySeller, Clock: clock})
	if err != nil {
		return nil, fmt.Errorf("dev simulator: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/gateway.do", ali)
	mux.Handle("/alipay/", http.StripPrefix("/alipay", ali))
	mux.Handle("/", sim)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	url := "https://" + strings.Replace(ln.Addr().String(), "[::1]", "localhost", 1)
	hc := &http.Client{Timeout: DefaultHTTPTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	d := &DevSimulator{Sim: sim, URL: url, Alipay: ali, Client: hc, srv: srv}
	d.Provider, err = NewWeChat(ctx, WeChatConfig{
		MchID: mchID, AppID: appID, MerchantCertSerial: mchSerial, MerchantKey: mchKey, APIv3Key: apiV3Key,
		PublicKeyID: sim.PublicKeyID(), PublicKey: sim.PublicKey(), Endpoint: url, HTTPClient: hc,
	})
	if err == nil {
		d.AlipayProvider, err = NewAlipay(AlipayConfig{AppID: devAlipayAppID, SellerID: devAlipaySeller, PrivateKey: mchKey,
			AlipayPublicKey: ali.PublicKey(), Gateway: url + "/gateway.do", HTTPClient: hc})
	}
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	return d, nil
}

// Close stops the server and the notification senders.
func (d *DevSimulator) Close() error {
	err := d.srv.Close()
	d.Sim.Close()
	d.Alipay.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

const devAlipayAppID, devAlipaySeller = "2021000000000001", "2088000000000001"

// The merchant and app id of the dev simulator's WeChat merchant (tests
// build notifications for it with Sim.NewNotification).
const (
	DevMchID = "1900000109"
	DevAppID = "wxdevsimulator0001"
)

func loopbackCert() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "WeChat Pay simulator (loopback)"},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, pool, nil
}
