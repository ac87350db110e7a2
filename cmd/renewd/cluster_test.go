package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// The cluster test's knobs, from the environment.
const (
	clusterClientsEnv = "UKEY_CLUSTER_CLIENTS" // concurrent clients (default clusterDefaultClients)
	clusterStrictEnv  = "UKEY_TEST_STRICT"     // without haproxy: fail instead of skip
)

const (
	clusterDefaultClients = 20
	clusterMaxClients     = 1000
	clusterRounds         = 6                // requests of each kind each client makes in a burst
	clusterRetryFor       = 30 * time.Second // a request that met the kill (502/503/504 or no answer) is sent again for this long
	clusterReviewer       = "cluster-reviewer"
	clusterReviewerPass   = "审核员的集群口令 2026"
)

// TestCluster runs the production renewd as a cluster of real parts: three
// processes on one PostgreSQL behind HAProxy (health checks on /readyz,
// option redispatch, retries), and, as the same test, one process on
// SQLite with nothing in front. Concurrent clients sign a reviewer in,
// poll the review queue and ask for SMS codes through the front; one
// replica is killed with SIGKILL in the middle of the burst and started
// again, and the clients go on. Afterwards every acknowledged write is in
// the database, the SMS cap of one number holds for the whole cluster,
// the periodic payment sweep was enqueued by one replica at a time, and
// the audit chain verifies. UKEY_CLUSTER_CLIENTS sets the number of
// clients (default 20).
//
// The journey is the staff's and the sign-in code's, not the clerk's
// application and payment: a production renewd sends codes through
// Tencent SMS and pays through WeChat Pay, with no development outbox or
// payment simulator, and --dev runs on SQLite only.
func TestCluster(t *testing.T) {
	t.Run("postgres-3-replicas-haproxy", func(t *testing.T) {
		haproxy, err := lookHAProxy()
		if err != nil {
			if os.Getenv(clusterStrictEnv) != "" {
				t.Fatalf("haproxy is not installed (Debian package haproxy; scripts/setup.sh installs it): %v", err)
			}
			t.Skip("haproxy is not installed (Debian package haproxy); set " + clusterStrictEnv + "=1 to fail instead")
		}
		dsn := pgtest.Database(t, "cluster_")
		newCluster(t, `"database": {"driver": "postgres"}`, []string{"RENEWD_DATABASE_DSN=" + dsn}, 3, haproxy).run()
	})
	t.Run("sqlite-1-process", func(t *testing.T) {
		newCluster(t, "", nil, 1, "").run()
	})
}

// lookHAProxy finds haproxy on PATH or where Debian puts it (/usr/sbin,
// not on a user's PATH).
func lookHAProxy() (string, error) {
	p, err := exec.LookPath("haproxy")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr == nil {
			return "/usr/sbin/haproxy", nil
		}
	}
	return p, err
}

type cluster struct {
	t        *testing.T
	setup    *prodSetup
	cfgFile  string
	env      []string
	addrs    []string
	procs    []*proc
	front    string       // base URL the clients use: HAProxy's, or the one process's
	retried  atomic.Int64 // requests sent again
	proxyLog *bytes.Buffer
	clients  int
}

// newCluster writes the configuration (db: the database member, "" for
// the setup's SQLite file), picks the replicas' ports, starts them one
// after the other, and HAProxy in front when haproxy is its path.
func newCluster(t *testing.T, db string, env []string, replicas int, haproxy string) *cluster {
	t.Helper()
	n := clusterDefaultClients
	if v := os.Getenv(clusterClientsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > clusterMaxClients {
			t.Fatalf("%s=%q: want a number of clients from 1 to %d", clusterClientsEnv, v, clusterMaxClients)
		}
	}
	c := &cluster{t: t, setup: newProdSetup(t), env: prodEnv(env...), clients: n}
	extra := `, "plain_http": true, "tls": {"cert": "", "key": ""}, "client_ip_header": "X-Forwarded-For", "trusted_proxies": ["127.0.0.1/32"],
  "limits": {"account_requests_per_second": 10000, "account_burst": 100000, "ip_requests_per_second": 10000, "ip_burst": 100000}`
	if db != "" {
		extra += ", " + db
	}
	c.cfgFile = c.setup.config(t, extra)
	if out, err := c.cli(clusterReviewerPass+"\n", "user", "add", "--role", "reviewer", "--name", "集群审核员", "--account", clusterReviewer,
		"--password-stdin", "--config", c.cfgFile); err != nil {
		t.Fatalf("renewd user add: %v\n%s", err, out)
	}
	for range replicas {
		c.addrs = append(c.addrs, freeAddr(t))
	}
	for i := range replicas {
		c.procs = append(c.procs, c.start(i))
	}
	c.front = "http://" + c.addrs[0]
	if haproxy != "" {
		c.front = c.startHAProxy(haproxy)
	}
	return c
}

// cli runs a renewd command with the cluster's secrets.
func (c *cluster) cli(stdin string, args ...string) (string, error) {
	cmd := exec.Command(renewdBinary(c.t), args...)
	cmd.Env, cmd.Stdin = c.env, strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs replica i on its port.
func (c *cluster) start(i int) *proc {
	c.t.Helper()
	cmd := exec.Command(renewdBinary(c.t), "--config", c.cfgFile, "--listen", c.addrs[i], "--drain-delay", "0s", "--drain-timeout", "10s")
	cmd.Env = c.env
	return startCmd(c.t, cmd)
}

// haproxyConfig is the load balancer of docs/INSTALL.md "Running a
// cluster", on loopback: %s are the front's address and the servers.
const haproxyConfig = `global
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 70s
    timeout server 70s
    retries 3
    option redispatch
    option forwardfor

frontend renewd
    bind %s
    default_backend renewd

backend renewd
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
%s`

// startHAProxy starts haproxy in the foreground with a generated
// configuration and waits until it routes to every replica.
func (c *cluster) startHAProxy(bin string) string {
	t := c.t
	t.Helper()
	front := freeAddr(t)
	var servers strings.Builder
	for i, a := range c.addrs {
		fmt.Fprintf(&servers, "    server r%d %s check\n", i+1, a)
	}
	file := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(file, fmt.Appendf(nil, haproxyConfig, front, servers.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-db", "-f", file)
	c.proxyLog = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = c.proxyLog, c.proxyLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + front
	c.waitRouted(base)
	return base
}

// waitRouted waits until base answers /readyz 200 on every replica (a
// round of the balancer's choices), within 60 s.
func (c *cluster) waitRouted(base string) {
	c.t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(60 * time.Second)
	ok := 0
	for ok < 2*len(c.addrs) {
		res, err := hc.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
		}
		if err == nil && res.StatusCode == http.StatusOK {
			ok++
		} else {
			ok = 0
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s/readyz is not 200 (%v)\nproxy: %s", base, err, c.proxyLog)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// answer is a request's outcome at the client.
type answer struct {
	status int
	body   []byte
	tries  int
}

// send makes one request through the front as a client would: a request
// that met the kill (no answer, 502, 503 or 504) is sent again with the
// same Idempotency-Key, every 200 ms for up to clusterRetryFor.
func (c *cluster) send(hc *http.Client, method, path, source, token, key string, body any) answer {
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	var last answer
	for first := time.Now(); ; {
		if last.tries > 0 {
			if time.Since(first) > clusterRetryFor {
				return last
			}
			c.retried.Add(1)
			time.Sleep(200 * time.Millisecond)
		}
		req, _ := http.NewRequest(method, c.front+path, bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", source)
		if key != "" {
			req.Header.Set(server.IdempotencyHeader, key)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := hc.Do(req)
		if err != nil {
			last = answer{0, []byte(err.Error()), last.tries + 1}
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		last = answer{res.StatusCode, b, last.tries + 1}
		if res.StatusCode != http.StatusBadGateway && res.StatusCode != http.StatusServiceUnavailable && res.StatusCode != http.StatusGatewayTimeout {
			return last
		}
	}
}

// tally is what the clients were told.
type tally struct {
	mu       sync.Mutex
	mobiles  []string // SMS codes acknowledged (202)
	logins   int      // sign-ins acknowledged (200)
	polls    int      // review-queue reads answered 200
	unknown  int      // SMS codes whose first try met the kill and whose retry was refused as too soon
	acks     atomic.Int64
	failures []string
}

func (ty *tally) fail(format string, args ...any) {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	if len(ty.failures) < 20 {
		ty.failures = append(ty.failures, fmt.Sprintf(format, args...))
	}
}

// burst runs the clients: each signs the reviewer in, polls the review
// queue and asks for SMS codes for numbers of its own, from a source
// address of its own (so no per-source limit is met). phase keeps the
// numbers of two bursts apart.
func (c *cluster) burst(phase int, ty *tally) {
	var wg sync.WaitGroup
	for i := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 30 * time.Second}
			source := fmt.Sprintf("10.%d.%d.%d", 10+phase, i/250, i%250+1)
			var token string
			for r := range clusterRounds {
				if r == 0 || r == clusterRounds/2 {
					a := c.send(hc, "POST", "/v1/auth/login", source, "", fmt.Sprintf("login-%d-%d-%d", phase, i, r),
						renewal.PasswordLoginRequest{Account: clusterReviewer, Password: clusterReviewerPass})
					if a.status != http.StatusOK {
						ty.fail("client %d sign-in: %d %s", i, a.status, a.body)
						return
					}
					var tok renewal.Tokens
					if err := json.Unmarshal(a.body, &tok); err != nil || tok.AccessToken == "" {
						ty.fail("client %d sign-in answer %s: %v", i, a.body, err)
						return
					}
					token = tok.AccessToken
					ty.mu.Lock()
					ty.logins++
					ty.mu.Unlock()
					ty.acks.Add(1)
				}
				mobile := fmt.Sprintf("13%d%04d%04d", 5+phase, i, r)
				a := c.send(hc, "POST", "/v1/auth/sms-code", source, "", "", renewal.SMSCodeRequest{Mobile: mobile})
				switch {
				case a.tries > 1 && a.status == http.StatusTooManyRequests && bytes.Contains(a.body, []byte("sms_too_soon")):
					// An anonymous request has no idempotency key: the
					// try that met the kill was applied, its answer lost.
					ty.mu.Lock()
					ty.unknown++
					ty.mu.Unlock()
				case a.status != http.StatusAccepted:
					ty.fail("client %d sms-code %s: %d %s", i, mobile, a.status, a.body)
				default:
					ty.mu.Lock()
					ty.mobiles = append(ty.mobiles, mobile)
					ty.mu.Unlock()
					ty.acks.Add(1)
				}
				a = c.send(hc, "GET", "/v1/review/queue", source, token, "", nil)
				if a.status != http.StatusOK {
					ty.fail("client %d review queue: %d %s", i, a.status, a.body)
				} else {
					ty.mu.Lock()
					ty.polls++
					ty.mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
}

func (c *cluster) run() {
	t := c.t
	ctx := context.Background()

	// One number's daily SMS cap is the cluster's: 30 asks, from 30
	// sources, spread over the replicas by the balancer.
	capped := server.DefaultConfig().Limits.SMSDailyPerMobile
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := c.send(&http.Client{Timeout: 30 * time.Second}, "POST", "/v1/auth/sms-code", fmt.Sprintf("10.9.0.%d", i+1), "", "",
				renewal.SMSCodeRequest{Mobile: "13912345678"})
			switch {
			case a.status == http.StatusAccepted:
				accepted.Add(1)
			case a.status == http.StatusTooManyRequests && bytes.Contains(a.body, []byte("sms_daily_limit")):
				refused.Add(1)
			default:
				t.Errorf("sms-code for the capped number: %d %s", a.status, a.body)
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != int64(capped) || refused.Load() != int64(30-capped) {
		t.Fatalf("SMS cap of one number: %d accepted, %d refused; want %d and %d for the whole cluster", accepted.Load(), refused.Load(), capped, 30-capped)
	}

	// The burst; the last replica is killed once a third of the writes are
	// acknowledged, and started again on its port.
	var ty tally
	victim := len(c.procs) - 1
	killed, burstDone := make(chan int64), make(chan struct{})
	go func() {
		target := int64(c.clients * (clusterRounds + 2) / 3)
		for ty.acks.Load() < target {
			select {
			case <-burstDone:
			case <-time.After(5 * time.Millisecond):
				continue
			}
			break
		}
		at := ty.acks.Load()
		_ = c.procs[victim].cmd.Process.Signal(syscall.SIGKILL)
		<-c.procs[victim].done
		killed <- at
	}()
	burst0 := make(chan struct{})
	go func() {
		defer close(burst0)
		c.burst(0, &ty)
		close(burstDone)
	}()
	killedAt := <-killed
	c.procs[victim] = c.start(victim)
	<-burst0
	if c.proxyLog != nil {
		c.waitRouted(c.front)
	}
	c.burst(1, &ty)
	if len(ty.failures) > 0 {
		t.Fatalf("%d requests failed, e.g.:\n%s", len(ty.failures), strings.Join(ty.failures, "\n"))
	}
	t.Logf("%d clients: %d sign-ins, %d SMS codes, %d polls acknowledged; replica %d killed after %d acknowledged writes, and restarted; %d requests sent again, %d SMS codes of unknown outcome",
		c.clients, ty.logins, len(ty.mobiles), ty.polls, victim+1, killedAt, c.retried.Load(), ty.unknown)

	// Stop every replica (the audit entries of PostgreSQL are linked after
	// their commits, by the writer or the next one), then look.
	for _, p := range c.procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.procs {
		if err := <-p.done; err != nil {
			t.Errorf("replica exit: %v\n%s", err, p.log())
		}
	}
	out, err := c.cli("", "audit", "verify", "--config", c.cfgFile)
	if err != nil || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("renewd audit verify: %v\n%s", err, out)
	}
	st := c.openStore(ctx)
	defer st.Close()
	db := st.DB()
	ph := "?"
	if st.Dialect() == store.Postgres {
		ph = "$1"
	}
	for _, m := range ty.mobiles {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sms_codes WHERE mobile = "+ph, m).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("the acknowledged SMS code for %s is not in the database", m)
		}
	}
	var logins int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM audit_log WHERE action = 'auth.password_login') +
		(SELECT count(*) FROM audit_queue WHERE action = 'auth.password_login')`).Scan(&logins); err != nil {
		t.Fatal(err)
	}
	if logins < ty.logins {
		t.Errorf("%d sign-ins acknowledged, %d audited", ty.logins, logins)
	}
	// The sweep is periodic: the leader alone enqueues it, every
	// payment.SweepInterval. Replicas that each enqueued it would put
	// several jobs into one interval; one leader change (the kill) may
	// put in one more.
	rows, err := db.QueryContext(ctx, "SELECT scheduled_at FROM river_job WHERE kind = "+ph+" ORDER BY scheduled_at", payment.SweepArgs{}.Kind())
	if err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	for rows.Next() {
		var s any
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		at = append(at, jobTime(t, s))
	}
	rows.Close()
	near := 0
	for i := 1; i < len(at); i++ {
		if at[i].Sub(at[i-1]) < payment.SweepInterval/2 {
			near++
		}
	}
	t.Logf("%d sweep jobs, %d of them closer than %s to the one before", len(at), near, payment.SweepInterval/2)
	// One process killed may hold the leadership until its lease runs out:
	// the count matters where several replicas could each enqueue.
	if len(c.procs) > 1 && (len(at) == 0 || near > 1) {
		t.Errorf("%d sweep jobs, %d of them closer than %s to the one before: want one a sweep interval", len(at), near, payment.SweepInterval/2)
	}
}

// jobTime reads River's scheduled_at, a time on PostgreSQL and text (or a
// time) from SQLite.
func jobTime(t *testing.T, v any) time.Time {
	t.Helper()
	switch v := v.(type) {
	case time.Time:
		return v
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999"} {
			if tm, err := time.Parse(layout, v); err == nil {
				return tm
			}
		}
	case []byte:
		return jobTime(t, string(v))
	}
	t.Fatalf("river_job.scheduled_at %T %v", v, v)
	return time.Time{}
}

// openStore opens the cluster's database as renewd does.
func (c *cluster) openStore(ctx context.Context) *store.Store {
	c.t.Helper()
	cfg, err := loadConfig(c.cfgFile, func(k string) string {
		for _, kv := range c.env {
			if name, v, ok := strings.Cut(kv, "="); ok && name == k {
				return v
			}
		}
		return ""
	})
	if err != nil {
		c.t.Fatal(err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

// clusterBenchEnv, set to 1, runs TestClusterBench.
const clusterBenchEnv = "UKEY_CLUSTER_BENCH"

// clusterBenchRequests is how many requests of each kind a client makes.
const clusterBenchRequests = 50

// TestClusterBench measures requests/s and latency of review-queue reads
// (a staff session's status read) and SMS-code requests (one write
// transaction each: the code row under the shared caps) through HAProxy
// to 1 and to 3 replicas on the same PostgreSQL; the figures go in
// docs/BENCHMARKS.md. It runs only with UKEY_CLUSTER_BENCH=1.
func TestClusterBench(t *testing.T) {
	if os.Getenv(clusterBenchEnv) != "1" {
		t.Skip("set " + clusterBenchEnv + "=1 to measure")
	}
	haproxy, err := lookHAProxy()
	if err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	for _, replicas := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d-replicas", replicas), func(t *testing.T) {
			dsn := pgtest.Database(t, "clusterbench_")
			c := newCluster(t, `"database": {"driver": "postgres"}`, []string{"RENEWD_DATABASE_DSN=" + dsn}, replicas, haproxy)
			tokens := make([]string, c.clients)
			var wg sync.WaitGroup
			for i := range c.clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a := c.send(&http.Client{Timeout: 60 * time.Second}, "POST", "/v1/auth/login", fmt.Sprintf("10.20.%d.%d", i/250, i%250+1), "", "",
						renewal.PasswordLoginRequest{Account: clusterReviewer, Password: clusterReviewerPass})
					var tok renewal.Tokens
					_ = json.Unmarshal(a.body, &tok)
					tokens[i] = tok.AccessToken
				}()
			}
			wg.Wait()
			for i, tok := range tokens {
				if tok == "" {
					t.Fatalf("client %d did not sign in", i)
				}
			}
			measure := func(name string, req func(hc *http.Client, client, n int) int, want int) {
				lat := make([][]time.Duration, c.clients)
				var bad atomic.Int64
				start := time.Now()
				var wg sync.WaitGroup
				for i := range c.clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						hc := &http.Client{Timeout: 60 * time.Second}
						for n := range clusterBenchRequests {
							t0 := time.Now()
							if req(hc, i, n) != want {
								bad.Add(1)
							}
							lat[i] = append(lat[i], time.Since(t0))
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				var all []time.Duration
				for _, l := range lat {
					all = append(all, l...)
				}
				slices.Sort(all)
				pct := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
				t.Logf("%d replicas, %d clients, %s: %d requests in %s: %.0f requests/s, p50 %s, p99 %s, %d not %d",
					replicas, c.clients, name, len(all), elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds(),
					pct(0.50).Round(100*time.Microsecond), pct(0.99).Round(100*time.Microsecond), bad.Load(), want)
				if bad.Load() > 0 {
					t.Errorf("%s: %d answers were not %d", name, bad.Load(), want)
				}
			}
			measure("review-queue reads", func(hc *http.Client, i, _ int) int {
				return c.send(hc, "GET", "/v1/review/queue", "10.20.0.1", tokens[i], "", nil).status
			}, http.StatusOK)
			measure("SMS-code requests", func(hc *http.Client, i, n int) int {
				k := i*clusterBenchRequests + n // a number and a source of its own: no cap is met
				return c.send(hc, "POST", "/v1/auth/sms-code", fmt.Sprintf("10.%d.%d.%d", 30+k/62500, k/250%250, k%250+1), "", "",
					renewal.SMSCodeRequest{Mobile: fmt.Sprintf("136%08d", k)}).status
			}, http.StatusAccepted)
		})
	}
}
