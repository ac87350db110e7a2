//go:build linux

package session_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// secretServiceStore opens a store on the real Secret Service of the test
// session bus (scripts/test.sh runs gnome-keyring there), under a service
// name of its own so parallel runs never meet.
func secretServiceStore(t testing.TB, service string, mod ...func(*session.Options)) *session.Store {
	t.Helper()
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		testenv.Missing(t, "a D-Bus session bus with a Secret Service (scripts/test.sh starts gnome-keyring)")
	}
	testenv.LookPath(t, "secret-tool")
	o := session.Options{Service: service, NoTPM: true, Dir: t.TempDir(), Timeout: 10 * time.Second}
	for _, f := range mod {
		f(&o)
	}
	st, err := session.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if st.Where() != session.InKeyring {
		testenv.Missing(t, "a Secret Service on the session bus: "+errString(st.Unavailable()))
	}
	t.Cleanup(func() { _ = st.Delete(context.Background()) })
	return st
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// secretTool reads the entry with libsecret's secret-tool: a reader
// independent of go-keyring. ok is false when there is no such entry.
func secretTool(t *testing.T, service string) (secret string, ok bool) {
	t.Helper()
	out, err := exec.Command("secret-tool", "lookup", "service", service, "username", "session").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return "", false
		}
		t.Fatalf("secret-tool lookup: %v", err)
	}
	return string(out), true
}

func TestKeyringRealSecretService(t *testing.T) {
	ctx := context.Background()
	service := randomName("ukeyrenew-test-")
	st := secretServiceStore(t, service)
	if st.Unavailable() != nil {
		t.Errorf("Unavailable = %v, want nil with a keyring", st.Unavailable())
	}
	if _, err := st.Load(ctx); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("Load before Save = %v, want ErrNoSession", err)
	}
	rec := record(time.Now())
	if w, err := st.Save(ctx, rec); err != nil || w != session.InKeyring {
		t.Fatalf("Save = %v, %v", w, err)
	}
	secret, ok := secretTool(t, service)
	if !ok || !strings.Contains(secret, rec.RefreshToken) || !strings.Contains(secret, `"service_url":"https://renew.example.cn"`) {
		t.Fatalf("secret-tool sees %q (found %v)", secret, ok)
	}
	if len(secret) > session.MaxEncoded {
		t.Fatalf("secret is %d bytes, more than %d", len(secret), session.MaxEncoded)
	}
	got, err := secretServiceStore(t, service).Load(ctx) // a restart
	if err != nil || got != rec {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, rec)
	}
	if err := st.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := secretTool(t, service); ok {
		t.Fatal("entry still in the keyring after Delete")
	}
	if _, err := st.Load(ctx); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("Load after Delete = %v", err)
	}
}

func TestKeyringBadEntryIsDiscarded(t *testing.T) {
	ctx := context.Background()
	service := randomName("ukeyrenew-test-")
	st := secretServiceStore(t, service)
	for name, junk := range map[string]string{
		"not json":     "hello",
		"access token": `{"v":1,"service_url":"https://a.cn","user":"u","refresh_token":"t","expiry":"2099-01-01T00:00:00Z","access_token":"at"}`,
		"bad url":      `{"v":1,"service_url":"http://a.cn","user":"u","refresh_token":"t","expiry":"2099-01-01T00:00:00Z"}`,
	} {
		cmd := exec.Command("secret-tool", "store", "--label=junk", "service", service, "username", "session")
		cmd.Stdin = strings.NewReader(junk)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("secret-tool store: %v: %s", err, out)
		}
		if _, err := st.Load(ctx); !errors.Is(err, session.ErrCorrupt) {
			t.Fatalf("%s: Load = %v, want ErrCorrupt", name, err)
		}
		if _, ok := secretTool(t, service); ok {
			t.Fatalf("%s: bad entry kept in the keyring", name)
		}
	}
}

func TestKeyringExpiredEntryIsDeleted(t *testing.T) {
	ctx := context.Background()
	service := randomName("ukeyrenew-test-")
	clock := fakeclock.New(time.Now().UTC())
	st := secretServiceStore(t, service, func(o *session.Options) { o.Now = clock.Now })
	rec := record(clock.Now())
	if _, err := st.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	clock.Set(rec.Expiry.Add(time.Minute))
	if _, err := st.Load(ctx); !errors.Is(err, session.ErrExpired) {
		t.Fatalf("Load after expiry = %v, want ErrExpired", err)
	}
	if _, ok := secretTool(t, service); ok {
		t.Fatal("expired entry kept in the keyring")
	}
}

// With both a keyring and a TPM, a session sealed while the keyring was
// missing is still found, moves to the keyring on the next Save, and
// sign-out removes it from both.
func TestKeyringAndSealedFileTogether(t *testing.T) {
	ctx := context.Background()
	service := randomName("ukeyrenew-test-")
	secretServiceStore(t, service) // skips first when there is no Secret Service
	tpm := startSWTPM(t)
	dir := t.TempDir()
	sealedPath := filepath.Join(dir, "session.sealed")
	both := secretServiceStore(t, service, func(o *session.Options) { o.NoTPM = false; o.OpenTPM = tpm.Open; o.Dir = dir })
	tpmOnly, err := session.Open(ctx, session.Options{Service: service, NoKeyring: true, OpenTPM: tpm.Open, Dir: dir})
	if err != nil || tpmOnly.Where() != session.InSealedFile {
		t.Fatalf("tpm-only store: %v %v", tpmOnly.Where(), err)
	}
	rec := record(time.Now())
	if _, err := tpmOnly.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, err := both.Load(ctx); err != nil || got != rec {
		t.Fatalf("Load of the sealed copy = %+v, %v", got, err)
	}
	if w, err := both.Save(ctx, rec); err != nil || w != session.InKeyring {
		t.Fatalf("Save = %v, %v", w, err)
	}
	if _, err := os.Stat(sealedPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Save to the keyring left the sealed copy behind")
	}
	if _, err := tpmOnly.Save(ctx, rec); err != nil { // two copies again
		t.Fatal(err)
	}
	if err := both.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := secretTool(t, service); ok {
		t.Fatal("Delete left the keyring entry")
	}
	if _, err := os.Stat(sealedPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Delete left the sealed file")
	}
}

// privateBus runs a dbus-daemon of the test's own, with no service files:
// nothing can be activated on it, so it has no Secret Service.
func privateBus(t *testing.T) string {
	t.Helper()
	bin := testenv.LookPath(t, "dbus-daemon")
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=`+dir+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config-file="+conf, "--print-address", "--nofork")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon address: %v", err)
	}
	return strings.TrimSpace(addr)
}

// childEnv is this process's environment without any way to find a session
// bus or a display, plus a marker that every process the child starts
// inherits, so leftovers can be found by it.
func childEnv(t *testing.T, extra ...string) (env []string, marker string) {
	marker = "UKEY_SESSION_MARK=" + randomName("")
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "DISPLAY", "WAYLAND_DISPLAY":
			continue
		}
		env = append(env, kv)
	}
	run := t.TempDir() // an XDG_RUNTIME_DIR without a "bus" socket
	return append(env, append([]string{"XDG_RUNTIME_DIR=" + run, marker}, extra...)...), marker
}

// leftovers lists the processes whose environment carries marker.
func leftovers(t *testing.T, marker string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == marker {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func runChildEnv(t *testing.T, mode string, env []string) childReport {
	t.Helper()
	return runChild(t, mode, append(env, "UKEY_SESSION_ENV_IS_FULL=1")...)
}

func TestNoBusFallsBackWithoutLaunchingOne(t *testing.T) {
	env, marker := childEnv(t, "UKEY_SESSION_TIMEOUT=2s")
	rep := runChildEnv(t, "cycle", env)
	if rep.Where != session.InMemory.String() || rep.SavedIn != session.InMemory.String() || rep.Loaded == nil || rep.DeleteErr != "" {
		t.Fatalf("child without a bus: %+v; want memory", rep)
	}
	if !strings.Contains(rep.Unavailable, "no D-Bus session bus") {
		t.Fatalf("Unavailable = %q, want it to say there is no session bus", rep.Unavailable)
	}
	for name, d := range rep.Durations {
		t.Logf("%s: %v", name, d)
	}
	if pids := leftovers(t, marker); len(pids) != 0 {
		t.Fatalf("processes left behind by the child: %v", pids)
	}
}

// The control for the test above: go-keyring alone, in the same setting,
// does launch a bus that outlives the process, and leftovers finds it.
func TestRawGoKeyringLeavesDaemonsWithoutBus(t *testing.T) {
	testenv.LookPath(t, "dbus-launch")
	env, marker := childEnv(t)
	runChildEnv(t, "raw-keyring", env)
	pids := leftovers(t, marker)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL) // started by this test's child
	}
	if len(pids) == 0 {
		t.Fatal("go-keyring left no daemon: the leak check of TestNoBusFallsBackWithoutLaunchingOne proves nothing")
	}
}

func TestBusWithoutSecretService(t *testing.T) {
	env, marker := childEnv(t, "DBUS_SESSION_BUS_ADDRESS="+privateBus(t), "UKEY_SESSION_TIMEOUT=2s")
	rep := runChildEnv(t, "cycle", env)
	if rep.Where != session.InMemory.String() || rep.SavedIn != session.InMemory.String() || rep.Loaded == nil {
		t.Fatalf("child on a bus without a Secret Service: %+v; want memory", rep)
	}
	if !strings.Contains(rep.Unavailable, "no Secret Service") {
		t.Fatalf("Unavailable = %q, want it to name the missing Secret Service", rep.Unavailable)
	}
	if pids := leftovers(t, marker); len(pids) != 0 {
		t.Fatalf("processes left behind by the child: %v", pids)
	}
}

// hangingSecrets owns the Secret Service name and never answers.
type hangingSecrets struct{ release chan struct{} }

func (h *hangingSecrets) Unlock([]dbus.ObjectPath) ([]dbus.ObjectPath, dbus.ObjectPath, *dbus.Error) {
	<-h.release
	return nil, "/", nil
}

func (h *hangingSecrets) OpenSession(string, dbus.Variant) (dbus.Variant, dbus.ObjectPath, *dbus.Error) {
	<-h.release
	return dbus.MakeVariant(""), "/", nil
}

func TestHangingSecretServiceTimesOut(t *testing.T) {
	addr := privateBus(t)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	h := &hangingSecrets{release: make(chan struct{})}
	t.Cleanup(func() { close(h.release); conn.Close() })
	if err := conn.Export(h, "/org/freedesktop/secrets", "org.freedesktop.Secret.Service"); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName("org.freedesktop.secrets", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
	env, _ := childEnv(t, "DBUS_SESSION_BUS_ADDRESS="+addr, "UKEY_SESSION_TIMEOUT=300ms")
	rep := runChildEnv(t, "cycle", env)
	if rep.Where != session.InMemory.String() || rep.SavedIn != session.InMemory.String() || rep.Loaded == nil {
		t.Fatalf("child with a hanging Secret Service: %+v; want memory", rep)
	}
	if !strings.Contains(rep.Unavailable, "no answer in time") {
		t.Fatalf("Unavailable = %q, want a timeout", rep.Unavailable)
	}
}
