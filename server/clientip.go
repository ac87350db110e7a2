package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// checkClientIPConfig refuses a client-IP header without the proxies it is
// believed from: else any caller would choose the address that every
// per-source limit counts under.
func checkClientIPConfig(cfg *Config) error {
	cfg.TrustedProxies = slices.Clone(cfg.TrustedProxies)
	for i, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return fmt.Errorf("server: trusted proxy %d is not a network", i+1)
		}
		cfg.TrustedProxies[i] = p.Masked()
	}
	if cfg.ClientIPHeader != "" && len(cfg.TrustedProxies) == 0 {
		return fmt.Errorf("server: client_ip_header %q needs trusted_proxies, the networks of the reverse proxies that set it "+
			"(e.g. [\"127.0.0.1/32\", \"::1/128\"] for a proxy on this host); from any other peer the header is ignored", cfg.ClientIPHeader)
	}
	if strings.ContainsAny(cfg.ClientIPHeader, " :,\r\n") {
		return errors.New("server: client_ip_header must be one header name")
	}
	return nil
}

// clientIP is the address a request came from. The configured header is
// believed only when the connection's peer is a trusted proxy. X-Forwarded-For
// lists the addresses each proxy saw, the client's own (whatever it wrote)
// first: the client is the rightmost address that is not a trusted proxy.
// Any other header (X-Real-IP) is one address, set by the proxy.
func (s *Server) clientIP(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	client := peer.Addr().Unmap()
	if s.cfg.ClientIPHeader == "" || !s.trustedProxy(client) {
		return client.String()
	}
	values := r.Header.Values(s.cfg.ClientIPHeader)
	if !strings.EqualFold(s.cfg.ClientIPHeader, "X-Forwarded-For") {
		if len(values) == 1 {
			if a, err := netip.ParseAddr(strings.TrimSpace(values[0])); err == nil {
				return a.Unmap().WithZone("").String()
			}
		}
		return client.String()
	}
	// Several header lines are one list, in order (RFC 9110 5.3).
	hops := strings.Split(strings.Join(values, ","), ",")
	for i := len(hops) - 1; i >= 0 && s.trustedProxy(client); i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // what a trusted proxy saw is to its right
		}
		client = a.Unmap().WithZone("")
	}
	return client.String()
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
