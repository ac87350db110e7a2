package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// TestMemoryUnderBodyAttacks replays the request-body memory attacks
// against a real renewd process (--dev, SQLite) and measures its resident
// memory from /proc/PID/status: the peak (VmHWM, reset after start-up,
// and VmRSS sampled) against the resident set before the attack. Each
// attack runs on a fresh process over the same data:
//
//   - submit: concurrent 10 MiB POST .../submit bodies with an
//     Idempotency-Key from one clerk (half declared, half chunked);
//   - full: concurrent 10 MiB uploads to an application already holding
//     its maximum of documents;
//   - clerks: many clerks, each from an address of its own, uploading
//     documents of a usual size (0.5 to 2 MiB) one after another, as the
//     client does (a 503 busy is retried after its Retry-After, as the
//     client does), then each one of 10 MiB, all at once; every upload
//     must be stored;
//   - stalled: bodies before sign-in (sign-ins, payment notifications)
//     from one address, begun and held open, while a clerk from another
//     address uploads and asks for an SMS code.
//
// Growth over 100 MiB fails. UKEY_ATTACK_SCALE multiplies the counts of
// the benchmark (30 and 80 submits, 30 uploads, 40 clerks of 3 documents);
// the default, 0.5, keeps CI quick and still far over 100 MiB on a
// service that buffers bodies. The figures in docs/BENCHMARKS.md:
//
//	UKEY_ATTACK_SCALE=1 go test -run TestMemoryUnderBodyAttacks -v ./cmd/renewd/
func TestMemoryUnderBodyAttacks(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: resident memory cannot be read")
	}
	scale := 0.5
	if v := os.Getenv("UKEY_ATTACK_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			t.Fatalf("UKEY_ATTACK_SCALE=%q: a positive number", v)
		}
		scale = f
	}
	n := func(full int) int { return max(1, int(float64(full)*scale+0.5)) }
	clerks := min(n(40), 200) // each signs in from an address of its own
	const docsPerClerk = 3

	// The data: the demo organisation with a certificate for each clerk
	// and two for the demo clerk, and the clerks.
	data := t.TempDir()
	files, serials := demoCerts(t, clerks+1)
	mobiles := seedClerks(t, data, files, clerks)

	// Set-up on a first process: sign-ins (tokens outlive the process),
	// applications, and one filled with documents.
	p := startRenewd(t, "--dev", "--data", data, "--listen", "127.0.0.1:0")
	demo := newAttacker(t, p.addr, 1)
	demo.signIn(DemoClerkMobile)
	full := demo.create(serials[0])
	for i := range renewal.MaxDocumentsPerApp {
		demo.upload(full, pngOf(1024, i), fmt.Sprintf("fill-%d", i), http.StatusCreated)
	}
	users := make([]*attacker, clerks)
	apps := make([]string, clerks)
	for i := range users {
		users[i] = newAttacker(t, p.addr, 2+i)
		users[i].signIn(mobiles[i])
		apps[i] = users[i].create(serials[1+i])
	}
	stop(t, p)

	big := bytes.Repeat([]byte("a"), renewal.MaxDocumentBytes)
	copy(big, `{"version":1,"comment":"`)
	bigPNG := pngOf(renewal.MaxDocumentBytes, 0)
	run := func(name string, attack func(a *attacker, count func(string))) {
		p := startRenewd(t, "--dev", "--data", data, "--listen", "127.0.0.1:0")
		demo.base = "http://" + p.addr
		for _, u := range users {
			u.base = "http://" + p.addr
		}
		demo.get("/v1/me") // warm
		m := watchRSS(t, p.cmd.Process.Pid)
		var mu sync.Mutex
		counts := map[string]int{}
		attack(demo, func(s string) { mu.Lock(); counts[s]++; mu.Unlock() })
		peak := m.stop()
		t.Logf("%-44s RSS before %4d MiB, peak %4d MiB, growth %4d MiB; answers %v", name, m.base>>20, peak>>20, (peak-m.base)>>20, counts)
		if peak-m.base > 100<<20 {
			t.Errorf("%s: renewd grew by %d MiB (from %d to %d MiB)", name, (peak-m.base)>>20, m.base>>20, peak>>20)
		}
		stop(t, p)
	}
	submits := func(k int) func(a *attacker, count func(string)) {
		return func(a *attacker, count func(string)) {
			parallel(k, func(i int) {
				var body io.Reader = bytes.NewReader(big)
				if i%2 == 1 {
					body = struct{ io.Reader }{bytes.NewReader(big)} // chunked
				}
				count(a.send("POST", "/v1/applications/"+full+"/submit", body, "application/json", fmt.Sprintf("submit-%d", i)))
			})
		}
	}
	run(fmt.Sprintf("submit: %d × 10 MiB, Idempotency-Key", n(30)), submits(n(30)))
	run(fmt.Sprintf("submit: %d × 10 MiB, Idempotency-Key", n(80)), submits(n(80)))
	run(fmt.Sprintf("full: %d × 10 MiB upload to a full application", n(30)), func(a *attacker, count func(string)) {
		parallel(n(30), func(i int) {
			count(a.send("POST", "/v1/applications/"+full+"/documents?kind=other&name=scan.png",
				bytes.NewReader(bigPNG), "image/png", fmt.Sprintf("full-%d", i)))
		})
	})
	run(fmt.Sprintf("clerks: %d × 1 upload of 10 MiB at once", clerks), func(_ *attacker, count func(string)) {
		parallel(clerks, func(i int) {
			st := users[i].uploadRetrying(apps[i], bigPNG, fmt.Sprintf("big-%d", i), count)
			if st != "201" && !strings.HasPrefix(st, "201 ") {
				t.Errorf("clerk %d, 10 MiB document: %s", i, st)
			}
		})
	})
	// Downloads: readers that open a 10 MiB document and read nothing (a
	// document sent is reserved at its size from the same budgets), from
	// one clerk and from every clerk at once.
	bigDoc := func(i int) string {
		var docs struct{ Items []renewal.Document }
		users[i].json("GET", "/v1/applications/"+apps[i]+"/documents", nil, &docs)
		for _, d := range docs.Items {
			if d.Size >= renewal.MaxDocumentBytes/2 {
				return "/v1/applications/" + apps[i] + "/documents/" + d.ID
			}
		}
		t.Fatalf("clerk %d has no large document", i)
		return ""
	}
	slowReads := func(k int) func(_ *attacker, count func(string)) {
		return func(_ *attacker, count func(string)) {
			paths := make([]string, clerks)
			for i := range paths {
				paths[i] = bigDoc(i)
			}
			parallel(k, func(i int) {
				c := i % clerks
				if k > clerks {
					c = 0 // more readers than clerks: all of one clerk
				}
				count(users[c].stall(paths[c], 2*time.Second))
			})
		}
	}
	run(fmt.Sprintf("download: %d stalled readers of one clerk's 10 MiB", n(100)), slowReads(n(100)))
	run(fmt.Sprintf("download: %d clerks × 1 stalled 10 MiB reader", clerks), slowReads(clerks))
	run(fmt.Sprintf("clerks: %d × %d uploads of 0.5–2 MiB", clerks, docsPerClerk), func(_ *attacker, count func(string)) {
		parallel(clerks, func(i int) {
			for j := range docsPerClerk {
				size := 512<<10 + (i*docsPerClerk+j)*(3<<19)/(clerks*docsPerClerk) // 0.5 to 2 MiB
				st := users[i].uploadRetrying(apps[i], pngOf(size, j), fmt.Sprintf("doc-%d-%d", i, j), count)
				if st != "201" && !strings.HasPrefix(st, "201 ") {
					t.Errorf("clerk %d, document %d: %s", i, j, st)
				}
			}
		})
	})

	// Bodies before sign-in, stalled, from one address (127.0.1.1): the
	// attack's sign-ins declaring 64 KiB and (half of them) sign-ins
	// declaring the largest a public body may (4 KiB), and payment notifications declaring 64 KiB
	// with 65002 bytes sent; each sends its first bytes and then nothing,
	// and is held open for holdFor (the service cuts a stalled JSON body
	// after 10 s; without a budget the bodies pile up as they arrive).
	// Meanwhile a clerk from another address uploads a document and signs
	// in: both must pass.
	const holdFor = 2500 * time.Millisecond
	logins, notifies := n(1030), n(4000)
	run(fmt.Sprintf("stalled: %d sign-ins, %d notifications, one address", logins, notifies), func(_ *attacker, count func(string)) {
		deadline := time.Now().Add(holdFor)
		notifyBody := append([]byte("{"), bytes.Repeat([]byte("a"), 65001)...)
		kinds := []struct {
			name, path string
			length     int
			sent       []byte
		}{
			{"login 64 KiB", "/v1/auth/login", 65536, []byte("{")},
			{"login 4 KiB", "/v1/auth/login", 4096, []byte("{")},
			{"notify 64 KiB", "/v1/payments/notify/wechat", 65536, notifyBody},
		}
		var wg sync.WaitGroup
		for i := range logins + notifies {
			k := kinds[2]
			if i < logins {
				k = kinds[i%2]
			}
			wg.Go(func() { count(k.name + ": " + stallRaw(demo.base, k.path, k.length, k.sent, deadline)) })
		}
		// Others while the bodies are held.
		time.Sleep(holdFor / 2)
		if st := users[0].send("POST", "/v1/applications/"+apps[0]+"/documents?kind=other&name=during.png",
			bytes.NewReader(pngOf(1<<20, 9)), "image/png", ""); !strings.HasPrefix(st, "201") {
			t.Errorf("a clerk's upload while bodies were held: %s", st)
		}
		other := newAttacker(t, strings.TrimPrefix(demo.base, "http://"), 3)
		if st := other.send("POST", "/v1/auth/sms-code", strings.NewReader(`{"mobile":"13912345678"}`), "application/json", ""); st[0] != '2' {
			t.Errorf("an SMS code asked from another address while bodies were held: %s", st)
		}
		wg.Wait()
	})
}

// stallRaw sends a request to base+path from 127.0.1.1 declaring length
// bytes of body and sending only sent, waits for an answer until deadline
// and closes the connection. It returns the answer's status, or "held"
// (none by the deadline), or "error".
func stallRaw(base, path string, length int, sent []byte, deadline time.Time) string {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, 1)}}
	c, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return "error"
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: renewd\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		path, length, sent); err != nil {
		return "error"
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return "held"
		}
		return "error"
	}
	if f := strings.Fields(line); len(f) >= 2 {
		return f[1]
	}
	return "error"
}

// seedClerks prepares a --dev data directory: the demo seed with the
// certificates of files, and n more clerks of the demo organisation,
// whose mobiles it returns.
func seedClerks(t *testing.T, data string, files []string, n int) []string {
	t.Helper()
	var o options
	fs := flag.NewFlagSet("renewd", flag.ContinueOnError)
	o.register(fs)
	if err := fs.Parse([]string{"--dev", "--data", data}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, _, _, err := openDev(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := seedDev(ctx, st, files); err != nil {
		t.Fatal(err)
	}
	org, err := st.OrganisationByCreditCode(ctx, demoCreditCode())
	if err != nil {
		t.Fatal(err)
	}
	mobiles := make([]string, n)
	for i := range mobiles {
		mobiles[i] = fmt.Sprintf("137%08d", i)
		u := &store.User{Role: renewal.RoleClerk, Name: fmt.Sprintf("经办人%d", i), Mobile: mobiles[i], OrganisationID: org.ID}
		if err := st.CreateUser(ctx, u, store.Change{Actor: "system", Action: "test.seed"}); err != nil {
			t.Fatal(err)
		}
	}
	return mobiles
}

// stop ends renewd with SIGTERM and waits for it.
func stop(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.done; err != nil {
		t.Fatalf("renewd: %v\n%s", err, p.log())
	}
}

// pngOf is a document of size bytes that sniffs as PNG.
func pngOf(size, seed int) []byte {
	b := make([]byte, size)
	copy(b, "\x89PNG\r\n\x1a\n")
	if size > 16 {
		b[12] = byte(seed)
	}
	return b
}

// parallel runs f(0..k-1) at once and waits.
func parallel(k int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range k {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// attacker is a clerk's HTTP client, connecting from 127.0.0.ip so that
// each clerk has the per-address limits of its own.
type attacker struct {
	t     *testing.T
	base  string
	tok   string
	http  *http.Client
	local *net.TCPAddr // the address it connects from
}

func newAttacker(t *testing.T, addr string, ip int) *attacker {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, byte(ip>>8), byte(ip))}
	d := &net.Dialer{LocalAddr: local}
	return &attacker{t: t, base: "http://" + addr, local: local,
		http: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 100}}}
}

// send sends body and returns the answer's status and code ("413
// body_too_large"), or the transport's error as "error".
func (a *attacker) send(method, path string, body io.Reader, ct, key string) string {
	st, _, _ := a.sendFull(method, path, body, ct, key)
	return st
}

func (a *attacker) sendFull(method, path string, body io.Reader, ct, key string) (string, []byte, http.Header) {
	req, err := http.NewRequest(method, a.base+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if a.tok != "" {
		req.Header.Set("Authorization", "Bearer "+a.tok)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := a.http.Do(req)
	if err != nil {
		return "error", nil, nil
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var e struct{ Code string }
	_ = json.Unmarshal(data, &e)
	st := strconv.Itoa(res.StatusCode)
	if e.Code != "" {
		st += " " + e.Code
	}
	return st, data, res.Header
}

func (a *attacker) json(method, path string, in, out any) {
	a.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	st, data, _ := a.sendFull(method, path, body, "application/json", "")
	if !strings.HasPrefix(st, "2") {
		a.t.Fatalf("%s %s: %s %s", method, path, st, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

func (a *attacker) get(path string) { a.json("GET", path, nil, nil) }

// stall asks for path on a connection with a small receive buffer, reads
// only the status line and headers, and holds the connection for d before
// closing it: a reader that makes the service keep the answer.
func (a *attacker) stall(path string, d time.Duration) string {
	dl := &net.Dialer{LocalAddr: a.local, Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := dl.Dial("tcp", strings.TrimPrefix(a.base, "http://"))
	if err != nil {
		return "error"
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: renewd\r\nAuthorization: Bearer %s\r\n\r\n", path, a.tok)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := http.ReadResponse(bufio.NewReaderSize(conn, 512), nil)
	if err != nil {
		return "error"
	}
	st := strconv.Itoa(res.StatusCode)
	time.Sleep(d)
	return st
}

func (a *attacker) signIn(mobile string) {
	a.json("POST", "/v1/auth/sms-code", renewal.SMSCodeRequest{Mobile: mobile}, nil)
	var msgs []struct{ Code string }
	a.json("GET", "/dev/outbox/sms?mobile="+mobile, nil, &msgs)
	if len(msgs) == 0 {
		a.t.Fatalf("no SMS for %s", mobile)
	}
	var tok renewal.Tokens
	a.json("POST", "/v1/auth/sms-login", renewal.SMSLoginRequest{Mobile: mobile, Code: msgs[len(msgs)-1].Code}, &tok)
	a.tok = tok.AccessToken
}

func (a *attacker) create(serial string) string {
	var app renewal.Application
	a.json("POST", "/v1/applications", renewal.CreateApplicationRequest{CertSerial: serial}, &app)
	return app.ID
}

func (a *attacker) upload(app string, doc []byte, key string, want int) {
	a.t.Helper()
	st := a.send("POST", "/v1/applications/"+app+"/documents?kind=other&name=scan.png", bytes.NewReader(doc), "image/png", key)
	if !strings.HasPrefix(st, strconv.Itoa(want)) {
		a.t.Fatalf("upload: %s", st)
	}
}

// uploadRetrying uploads as the client does: a 503 is sent again after
// its Retry-After, with the same Idempotency-Key (here up to 100 times).
// count gets each answer.
func (a *attacker) uploadRetrying(app string, doc []byte, key string, count func(string)) string {
	for try := 0; ; try++ {
		st, _, h := a.sendFull("POST", "/v1/applications/"+app+"/documents?kind=other&name=scan.png", bytes.NewReader(doc), "image/png", key)
		count(st)
		if !strings.HasPrefix(st, "503") || try == 100 {
			return st
		}
		ra, _ := strconv.Atoi(h.Get("Retry-After"))
		time.Sleep(time.Duration(max(ra, 1)) * time.Second)
	}
}

// rssWatch samples a process's resident memory.
type rssWatch struct {
	pid  int
	base int64
	done chan struct{}
	max  chan int64
}

// watchRSS notes the process's resident set, resets its high-water mark
// (clear_refs 5) and samples VmRSS until stop.
func watchRSS(t *testing.T, pid int) *rssWatch {
	t.Helper()
	m := &rssWatch{pid: pid, done: make(chan struct{}), max: make(chan int64, 1)}
	m.base = procStatus(t, pid)["VmRSS"]
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	go func() {
		peak := m.base
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := procStatus(nil, pid)["VmRSS"]; v > peak {
				peak = v
			}
			select {
			case <-m.done:
				m.max <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// stop returns the peak: the larger of the sampled VmRSS and VmHWM.
func (m *rssWatch) stop() int64 {
	close(m.done)
	peak := <-m.max
	hwm := procStatus(nil, m.pid)["VmHWM"]
	return max(peak, hwm)
}

// procStatus reads the kB fields of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int) map[string]int64 {
	out := map[string]int64{}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		if t != nil {
			t.Fatal(err)
		}
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 10, 64); err == nil {
			out[k] = n << 10
		}
	}
	return out
}
