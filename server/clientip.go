package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
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
// Any other header (X-Real-IP) is one address, set by the proxy. A hop may
// carry a port (1.2.3.4:5555, [2001:db8::1]:80: some proxies write the
// peer's address so). A hop that is no address at all ("unknown", an
// obfuscated name) stops the walk: the request counts under the proxy
// that wrote it, as that proxy's own; this is logged (WARN, at most once a
// minute, with the hop's shape, not its value), since all of its clients
// then share one source's limits.
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
		a, ok := parseHop(hops[i])
		if !ok {
			s.warnHop(r, hops[i])
			break // what a trusted proxy saw is to its right
		}
		client = a.Unmap().WithZone("")
	}
	return client.String()
}

// parseHop reads one X-Forwarded-For entry: an address, with a port or not.
func parseHop(h string) (netip.Addr, bool) {
	h = strings.TrimSpace(h)
	if a, err := netip.ParseAddr(h); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr(), true
	}
	if b, ok := strings.CutPrefix(h, "["); ok {
		if a, err := netip.ParseAddr(strings.TrimSuffix(b, "]")); err == nil && strings.HasSuffix(b, "]") {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// hopWarnEvery spaces the WARNs about hops that are no address.
const hopWarnEvery = time.Minute

// warnHop logs a hop that is no address, at most once per hopWarnEvery.
func (s *Server) warnHop(r *http.Request, hop string) {
	if s.log == nil || s.now == nil {
		return
	}
	now := s.now().UnixNano()
	last := s.hopWarned.Load()
	if last != 0 && now-last < int64(hopWarnEvery) || !s.hopWarned.CompareAndSwap(last, now) {
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "a trusted proxy's "+s.cfg.ClientIPHeader+" hop is not an address; "+
		"its requests count under the proxy's own address, all clients behind it sharing one source's limits",
		slog.String("hop_shape", hopShape(hop)), slog.String("proxy", r.RemoteAddr))
}

// hopShape is a hop with its digits as 9 and letters as a (at most 64
// characters): what it looks like, without an address or name in the log.
func hopShape(hop string) string {
	hop = strings.TrimSpace(hop)
	var b strings.Builder
	for i, c := range hop {
		if i >= 64 {
			b.WriteString("…")
			break
		}
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte('9')
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			b.WriteByte('a')
		case strings.ContainsRune(".:[]-_%", c):
			b.WriteRune(c)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
