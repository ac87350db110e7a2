package server

import (
	"net"
	"net/netip"
	"slices"
	"sync"
)

// Listener wraps ln so that one source (an IPv4 address or an IPv6 /64,
// as the other per-client limits count) holds at most
// Limits.ConnsPerSource connections at once; a connection beyond that is
// closed as soon as it is accepted, before a byte is read, and counted
// (event conn_refused). Each open connection costs the service some 30 KiB
// whatever it sends, so without this one address could hold thousands.
// Peers in Config.TrustedProxies are not limited: behind a proxy every
// client arrives from it.
func (s *Server) Listener(ln net.Listener) net.Listener {
	if s.cfg.Limits.ConnsPerSource <= 0 {
		return ln
	}
	return &sourceListener{Listener: ln, max: s.cfg.Limits.ConnsPerSource, exempt: s.cfg.TrustedProxies,
		refused: func() { s.metrics.count("conn_refused") }, open: map[string]int{}}
}

type sourceListener struct {
	net.Listener
	max     int
	exempt  []netip.Prefix
	refused func()
	mu      sync.Mutex
	open    map[string]int
}

func (l *sourceListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil {
			return c, nil // not an IP peer (a test pipe): nothing to count by
		}
		addr := ap.Addr().Unmap()
		if slices.ContainsFunc(l.exempt, func(p netip.Prefix) bool { return p.Contains(addr) }) {
			return c, nil
		}
		src := sourceOf(addr.String())
		l.mu.Lock()
		if l.open[src] >= l.max {
			l.mu.Unlock()
			_ = c.Close()
			l.refused()
			continue
		}
		l.open[src]++
		l.mu.Unlock()
		return &sourceConn{Conn: c, release: sync.OnceFunc(func() {
			l.mu.Lock()
			if l.open[src]--; l.open[src] <= 0 {
				delete(l.open, src)
			}
			l.mu.Unlock()
		})}, nil
	}
}

type sourceConn struct {
	net.Conn
	release func()
}

func (c *sourceConn) Close() error {
	c.release()
	return c.Conn.Close()
}
