package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/server/jobs"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// drainDelay is the window in which /readyz must be seen at 503 after
// SIGTERM; the whole drain test stays within the service's 10 s limit for
// reading a JSON body.
const drainDelay = 4 * time.Second

// TestSIGTERMDrains runs the real renewd, --dev on SQLite and production
// on PostgreSQL behind a TLS proxy (plain HTTP): a request is in flight
// (its body half sent) when SIGTERM comes. /readyz turns 503 at once while
// requests are still served; after the drain delay the listener closes;
// the in-flight request then completes with its answer, and renewd exits 0.
func TestSIGTERMDrains(t *testing.T) {
	drainArgs := []string{"--drain-delay", drainDelay.String(), "--drain-timeout", "60s"}
	t.Run("dev-sqlite", func(t *testing.T) {
		checkDrain(t, startRenewd(t, append([]string{"--dev", "--data", t.TempDir(), "--listen", "127.0.0.1:0"}, drainArgs...)...))
	})
	t.Run("production-postgres", func(t *testing.T) {
		dsn := pgtest.Database(t, "drain_")
		setup := newProdSetup(t)
		cmd := exec.Command(renewdBinary(t), append([]string{"--config", setup.config(t,
			`, "plain_http": true, "tls": {"cert": "", "key": ""}, "database": {"driver": "postgres"}`)}, drainArgs...)...)
		cmd.Env = prodEnv("RENEWD_DATABASE_DSN=" + dsn)
		checkDrain(t, startCmd(t, cmd))
	})
}

func checkDrain(t *testing.T, p *proc) {
	base := "http://" + p.addr
	if code := status(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before SIGTERM: %d\n%s", code, p.log())
	}

	// The slow request: headers and part of the body now, the rest later.
	body := `{"account":"nobody","password":"not the password"}`
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := "POST /v1/auth/login HTTP/1.1\r\nHost: renewd\r\nContent-Type: application/json\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head + body[:5])); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the server read the headers: the request is in flight

	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		code := status(t, base+"/readyz")
		if code == http.StatusServiceUnavailable {
			break
		}
		if code != http.StatusOK || time.Since(sent) > drainDelay {
			t.Fatalf("/readyz after SIGTERM: %d (%s after the signal), want 503 within the drain delay\n%s", code, time.Since(sent), p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// After the delay the listener is closed: new connections are refused.
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Since(sent) > drainDelay+30*time.Second {
			t.Fatalf("renewd still accepts connections %s after SIGTERM\n%s", time.Since(sent), p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-p.done:
		t.Fatalf("renewd exited (%v) with a request in flight\n%s", err, p.log())
	default:
	}
	// The in-flight request completes: the unknown account is refused.
	if _, err := conn.Write([]byte(body[5:])); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v\n%s", err, p.log())
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the in-flight request: %s %s, want 401", res.Status, answer)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("renewd exit: %v, want 0\n%s", err, p.log())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("renewd did not exit after the drain")
	}
	for _, want := range []string{`"msg":"draining: /readyz answers 503"`, `"msg":"stopped"`} {
		if !strings.Contains(p.log(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestDrainFlags: a drain plan that cannot work is refused with the rule.
func TestDrainFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--drain-delay", "30s", "--drain-timeout", "10s"},
		{"--drain-timeout", "0s"},
		{"--drain-timeout", "11m"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"--dev", "--data", t.TempDir(), "--listen", "127.0.0.1:0"}, args...),
			strings.NewReader(""), &out, &out, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "want 0 ≤ delay < timeout ≤ 10m0s") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestJobsCommand: a job that cannot succeed (a refund nobody knows) is
// worked by renewd, cancelled, and listed by renewd jobs with its error;
// renewd jobs retry runs it again. Bad arguments say what is wrong.
func TestJobsCommand(t *testing.T) {
	data := t.TempDir()
	p := startRenewd(t, "--dev", "--data", data, "--listen", "127.0.0.1:0")
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, data+"/renewd.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q, err := jobs.New(ctx, st.DB(), jobs.SQLite, jobs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Insert(ctx, payment.RefundArgs{OutRefundNo: "UKF20261208000000NOSUCHREF", OutTradeNo: "UKR1"}, &river.InsertOpts{})
	if err != nil {
		t.Fatal(err)
	}
	waitJob := func(want rivertype.JobState) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			j, err := q.Client().JobGet(ctx, res.Job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if j.State == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("job is %s, want %s\n%s", j.State, want, p.log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitJob(rivertype.JobStateCancelled)
	renewdCmd := func(args ...string) (string, error) {
		out, err := exec.Command(renewdBinary(t), args...).CombinedOutput()
		return string(out), err
	}
	out, err := renewdCmd("jobs", "--dev", "--data", data)
	if err != nil {
		t.Fatalf("renewd jobs: %v\n%s", err, out)
	}
	for _, want := range []string{"payment.refund  cancelled  1", "failed jobs", "UKF20261208000000NOSUCHREF", "1/95", "refund UKF20261208000000NOSUCHREF: unknown order"} {
		if !strings.Contains(out, want) {
			t.Errorf("renewd jobs lacks %q:\n%s", want, out)
		}
	}
	out, err = renewdCmd("jobs", "retry", strconv.FormatInt(res.Job.ID, 10), "--dev", "--data", data)
	if err != nil || !strings.Contains(out, "is available") {
		t.Fatalf("renewd jobs retry: %v\n%s", err, out)
	}
	waitJob(rivertype.JobStateCancelled) // worked again, and cancelled again
	for _, bad := range [][]string{
		{"jobs", "retry", "--dev"},
		{"jobs", "retry", "x1", "--dev", "--data", data},
		{"jobs", "--limit", "0", "--dev", "--data", data},
		{"jobs", "extra", "--dev", "--data", data},
	} {
		out, err := renewdCmd(bad...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !strings.Contains(out, "renewd") {
			t.Errorf("%v: %v\n%s", bad, err, out)
		}
	}
}

// TestConfigDrain: the drain keys default to 5 s and 25 s; a plan that
// cannot work is refused naming both keys and the rule.
func TestConfigDrain(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "packaging", "linux", "renewd.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RENEWD_PEPPER": testPepperHex, "RENEWD_METRICS_TOKEN": testMetricsToken, "RENEWD_TENCENT_SECRET_ID": "id",
		"RENEWD_TENCENT_SECRET_KEY": "key", "RENEWD_WECHAT_APIV3_KEY": testAPIv3Key}
	load := func(drain string) (Config, error) {
		t.Helper()
		cfg := strings.Replace(string(example), `"drain": {"delay_seconds": 5, "timeout_seconds": 25}`, drain, 1)
		file := filepath.Join(t.TempDir(), "renewd.json")
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(file, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		return c, c.validate()
	}
	c, err := load(`"drain": {}`)
	if err != nil {
		t.Fatal(err)
	}
	if plan, _ := c.drain(); plan.delay != 5*time.Second || plan.timeout != 25*time.Second {
		t.Errorf("default drain %+v, want 5 s and 25 s", plan)
	}
	for _, bad := range []string{
		`"drain": {"delay_seconds": 30, "timeout_seconds": 10}`,
		`"drain": {"delay_seconds": -1}`,
		`"drain": {"timeout_seconds": 0}`,
		`"drain": {"timeout_seconds": 601}`,
	} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "drain.delay_seconds") ||
			!strings.Contains(err.Error(), "want 0 ≤ delay < timeout ≤ 10m0s") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
