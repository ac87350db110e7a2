package token

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/miekg/pkcs11"
)

// The crash test runs Install in a child process (this test binary again,
// TestInstallCrashChild) against a real SoftHSM2 token with the file
// backend, kills it with SIGKILL at a random moment (and every second time
// kills a recovering child too), runs Recover in the parent and checks the
// invariant: exactly one usable certificate for the holder (the old or the
// new one) with its key pair, no ghosts, no orphans, no journal.

const crashChildEnv = "UKEY_INSTALL_CRASH_CHILD"

// TestInstallCrashChild is the child: it is skipped unless started by
// another test. It reads the PIN from stdin, logs in, prints "ready", and
// installs (UKEY_CRASH_ACTION=install), recovers (recover) or holds the
// token's lock until killed (hold), then prints "done".
func TestInstallCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("the child process of TestInstallCrashSafety")
	}
	if err := crashChild(); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	fmt.Println("done")
	os.Exit(0)
}

func crashChild() error {
	ctx := context.Background()
	dir := os.Getenv("UKEY_CRASH_DIR")
	pin, err := bufio.NewReader(os.Stdin).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read pin: %w", err)
	}
	pin = bytes.TrimSpace(pin)
	m, err := OpenModule(os.Getenv("UKEY_CRASH_MODULE"))
	if err != nil {
		return err
	}
	tok, err := m.Open(ctx, os.Getenv("UKEY_CRASH_SERIAL"))
	if err != nil {
		return err
	}
	if err := tok.Login(ctx, pin); err != nil {
		return err
	}
	j, err := OpenJournal(filepath.Join(dir, "journal"), nil)
	if err != nil {
		return err
	}
	if os.Getenv("UKEY_CRASH_ACTION") == "hold" {
		// An install that is still running: it holds the token's lock.
		if _, err := j.Lock(tok.Serial()); err != nil {
			return err
		}
		fmt.Println("ready")
		time.Sleep(time.Hour) // until killed
	}
	caDER, err := os.ReadFile(filepath.Join(dir, "ca.der"))
	if err != nil {
		return err
	}
	ca, err := smx509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	req := InstallRequest{Mode: InstallMode(os.Getenv("UKEY_CRASH_MODE")), Chain: []*smx509.Certificate{ca}, Journal: j,
		Now: func() time.Time { return instNow }}
	if req.Mode == SameKey {
		if req.Cert, err = os.ReadFile(filepath.Join(dir, "cert.der")); err != nil {
			return err
		}
	} else {
		keyDER, err := os.ReadFile(filepath.Join(dir, "cakey.der"))
		if err != nil {
			return err
		}
		k, err := smx509.ParsePKCS8PrivateKey(keyDER)
		if err != nil {
			return err
		}
		serial, _ := strconv.ParseInt(os.Getenv("UKEY_CRASH_CERT_SERIAL"), 10, 64)
		issuing := &instCA{cert: ca, key: k.(crypto.Signer), serial: serial}
		req.Issuer = IssuerFunc(func(ctx context.Context, csrDER []byte) ([]byte, error) {
			csr, err := x509.ParseCertificateRequest(csrDER)
			if err != nil {
				return nil, err
			}
			return issuing.issueRaw(crashTB{}, csr.PublicKey, csr.RawSubject, instNow.AddDate(0, 0, -1), issuing.nextEnd()), nil
		})
	}
	fmt.Println("ready")
	if os.Getenv("UKEY_CRASH_ACTION") == "recover" {
		_, err = Recover(ctx, tok, j.Dir())
		return err
	}
	if os.Getenv("UKEY_CRASH_TWO_STEP") == "1" {
		// ukeyctl's two-step re-key: the CSR goes out, the certificate
		// comes back through a second call.
		res, err := PrepareRekey(ctx, tok, InstallRequest{Mode: Rekey, Journal: j, Now: req.Now})
		if err != nil {
			return err
		}
		cert, err := req.Issuer.IssueCertificate(ctx, res.CSR)
		if err != nil {
			return err
		}
		req.Issuer, req.Cert = nil, cert
	}
	_, err = Install(ctx, tok, req)
	return err
}

// crashTB lets the child use the test CA helpers outside a test.
type crashTB struct{ testing.TB }

func (crashTB) Helper() {}
func (crashTB) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	os.Exit(4)
}

// crashCase is one kind of install under fire.
type crashCase struct {
	mode    InstallMode
	kt      KeyPairType
	kills   int
	twoStep bool // re-key through PrepareRekey, then Install with the certificate
}

func TestInstallCrashSafety(t *testing.T) {
	if os.Getenv(crashChildEnv) == "1" {
		t.Skip("in the child")
	}
	cases := []crashCase{
		{SameKey, ECP256, 40, false},
		{Rekey, ECP256, 30, false},
		{Rekey, ECP256, 10, true},
		{SameKey, RSA2048, 10, false},
		{Rekey, RSA2048, 10, false},
	}
	if testing.Short() {
		for i := range cases {
			cases[i].kills = 3
		}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("UKEY_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("UKEY_CRASH_SEED: %v", err)
		}
	}
	t.Logf("seed %d (reproduce with UKEY_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	total := map[string]int{}
	for _, c := range cases {
		name := fmt.Sprintf("%s-%s", c.mode, c.kt)
		if c.twoStep {
			name += "-two-step"
		}
		t.Run(name, func(t *testing.T) {
			outcomes := crashRun(t, c, rng)
			for k, v := range outcomes {
				total[k] += v
			}
		})
	}
	t.Logf("after the kills the token held: %v", total)
	// The kills must have hit installs in flight, both before and during
	// the certificate write, or the test proved nothing.
	if !testing.Short() && (total["old"] == 0 || total["new"] == 0 || total["killed at "+string(StepWritingCert)] == 0 || total["killed at "+string(StepIntent)]+total["killed at "+string(StepAwaitingCert)] == 0) {
		t.Errorf("the kills missed the installs: %v", total)
	}
}

// crashRun makes a token, measures two undisturbed installs, then kills
// c.kills installs at random moments spread over 1.2 times the longer one.
func crashRun(t *testing.T, c crashCase, rng *rand.Rand) map[string]int {
	f := newInstFixture(t, c.kt, "ec")
	dir := t.TempDir()
	caKey, err := smx509.MarshalPKCS8PrivateKey(f.ca.key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ca.der"), f.ca.cert.Raw, 0o600)
	os.WriteFile(filepath.Join(dir, "cakey.der"), caKey, 0o600)
	journal, err := OpenJournal(filepath.Join(dir, "journal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.journal = journal
	ctx := context.Background()

	// prepare writes the child's certificate (same-key) and returns the
	// SHA-256 of the certificate the token holds now and of the new one.
	prepare := func() (old, renewed [32]byte) {
		cur := f.assertOneUsable(t)
		old = sha256.Sum256(cur.Info.Raw)
		f.ca.serial += 1000 // the child issues from the same CA: keep serials apart
		if c.mode == SameKey {
			der := f.ca.renewal(t, cur.Info.PublicKey)
			os.WriteFile(filepath.Join(dir, "cert.der"), der, 0o600)
			renewed = sha256.Sum256(der)
		}
		return old, renewed
	}
	run := func(kill time.Duration, killIt bool, action string) (time.Duration, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestInstallCrashChild$", "-test.count=1")
		cmd.Env = append(f.env.Environ(), crashChildEnv+"=1", "UKEY_CRASH_ACTION="+action,
			"UKEY_CRASH_DIR="+dir, "UKEY_CRASH_MODULE="+f.env.Module, "UKEY_CRASH_SERIAL="+f.serial,
			"UKEY_CRASH_MODE="+string(c.mode), "UKEY_CRASH_CERT_SERIAL="+strconv.FormatInt(f.ca.serial, 10))
		if c.twoStep {
			cmd.Env = append(cmd.Env, "UKEY_CRASH_TWO_STEP=1")
		}
		cmd.Stdin = strings.NewReader(instUserPIN + "\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return 0, err
		}
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(out)
		if !sc.Scan() || sc.Text() != "ready" {
			cmd.Wait()
			return 0, fmt.Errorf("child did not get ready: %q %s", sc.Text(), stderr.String())
		}
		start := time.Now()
		if killIt {
			time.Sleep(kill)
			cmd.Process.Kill()
		}
		for sc.Scan() {
		}
		werr := cmd.Wait()
		d := time.Since(start)
		if !killIt && werr != nil {
			return d, fmt.Errorf("child: %v: %s", werr, stderr.String())
		}
		return d, nil
	}
	lastChange := "" // what the last killed child did to the token's files
	check := func(i int, kill time.Duration, old, renewed [32]byte, outcomes map[string]int) {
		t.Helper()
		before := crashObjects(t, f.tok)
		res, err := Recover(ctx, f.tok, journal.Dir())
		if err != nil {
			crashDump(t, f.tok)
			t.Fatalf("kill %d after %v: recover: %v", i, kill, err)
		}
		if res.Outcome == "pending" {
			// A two-step re-key killed between its steps waits for its
			// certificate, old certificate in place: the clerk abandons it.
			if !c.twoStep || len(res.Kept) != 2 {
				t.Fatalf("kill %d: recover left a pending re-key: %+v", i, res)
			}
			outcomes["pending, then abandoned"]++
			if _, err := AbandonRekey(ctx, f.tok, journal); err != nil {
				t.Fatalf("kill %d: abandon: %v", i, err)
			}
		}
		if s := f.state(t); s.certs != 1 || s.privs != 1 || s.pubs != 1 || s.ghosts != 0 || s.orphans != 0 {
			t.Logf("kill %d after %v: the child changed these token files: %s", i, kill, lastChange)
			t.Logf("objects before recover: %s", before)
			t.Logf("recover: %+v", res)
			crashDump(t, f.tok)
			ls, _ := exec.Command("ls", "-lR", f.env.TokenDir).CombinedOutput()
			t.Logf("token directory:\n%s", ls)
		}
		cur := f.assertOneUsable(t)
		sum := sha256.Sum256(cur.Info.Raw)
		switch {
		case sum == old:
			outcomes["old"]++
		case c.mode == SameKey && sum == renewed, c.mode == Rekey && !bytes.Equal(cur.ID, f.oldID):
			outcomes["new"]++
		default:
			t.Fatalf("kill %d after %v: the token holds a certificate that is neither the old nor the new one", i, kill)
		}
		outcomes["recover:"+string(res.Outcome)]++
		for _, o := range res.Removed {
			why, _, _ := strings.Cut(o.Reason, ":")
			if why == "orphan" && os.Getenv("UKEY_CRASH_VERBOSE") != "" {
				t.Logf("kill %d: orphan %s id %x label %q removed; the child changed %s", i, o.Class, o.ID, o.Label, lastChange)
			}
			outcomes["removed "+string(o.Class)+" ("+why+")"]++
		}
		again, err := Recover(ctx, f.tok, journal.Dir())
		if err != nil || again.Changed() || again.Outcome != "nothing_to_do" {
			t.Fatalf("kill %d: second recover is not a no-op: %+v, %v", i, again, err)
		}
	}

	// Two undisturbed installs tell how long an install takes here.
	var dur time.Duration
	for i := range 2 {
		old, renewed := prepare()
		d, err := run(0, false, "install")
		if err != nil {
			t.Fatal(err)
		}
		dur = max(dur, d)
		check(-1-i, 0, old, renewed, map[string]int{})
		if c.mode == Rekey {
			f.oldID = f.state(t).cert.ID // the next install replaces this one
		}
	}
	outcomes := map[string]int{}
	window := dur + dur/5
	// A recovery deletes a few objects: tens of milliseconds at most here.
	const recoverWindow = 30 * time.Millisecond
	t.Logf("an undisturbed %s install takes %v; killing at random in [0, %v]", c.mode, dur.Round(time.Millisecond), window.Round(time.Millisecond))
	for i := range c.kills {
		old, renewed := prepare()
		kill := time.Duration(rng.Int64N(int64(window)))
		filesBefore := crashFiles(f.env.TokenDir)
		if _, err := run(kill, true, "install"); err != nil {
			t.Fatal(err)
		}
		lastChange = crashDiff(filesBefore, crashFiles(f.env.TokenDir))
		if e, err := journal.Load(f.serial); err != nil {
			t.Fatalf("kill %d: the journal: %v", i, err)
		} else if e != nil {
			outcomes["killed at "+string(e.Step)]++
		}
		if i%2 == 1 {
			// Kill the recovery too: Recover must survive its own crash.
			rkill := time.Duration(rng.Int64N(int64(recoverWindow)))
			if _, err := run(rkill, true, "recover"); err != nil {
				t.Fatal(err)
			}
			outcomes["recovery killed"]++
		}
		check(i, kill, old, renewed, outcomes)
		if cur := f.state(t).cert; c.mode == Rekey {
			f.oldID = cur.ID
		}
	}
	t.Logf("%d kills: %v", c.kills, outcomes)
	return outcomes
}

// crashDump logs every object's basic attributes (or why they cannot be
// read), to explain a failed recovery.
func crashDump(t *testing.T, tok *Token) {
	tok.mu.Lock()
	defer tok.mu.Unlock()
	hs, err := tok.findLocked(nil)
	if err != nil {
		t.Logf("find objects: %v", err)
		return
	}
	names := map[uint]string{pkcs11.CKA_CLASS: "class", pkcs11.CKA_ID: "id", pkcs11.CKA_LABEL: "label", pkcs11.CKA_KEY_TYPE: "key type", pkcs11.CKA_EC_POINT: "ec point", pkcs11.CKA_MODULUS: "modulus"}
	for _, h := range hs {
		var line []string
		for a, name := range names {
			got, err := tok.lib.ctx.GetAttributeValue(tok.session, h, []*pkcs11.Attribute{pkcs11.NewAttribute(a, nil)})
			if err != nil {
				line = append(line, fmt.Sprintf("%s: %v", name, err))
			} else {
				line = append(line, fmt.Sprintf("%s: %x", name, got[0].Value))
			}
		}
		t.Logf("object %d: %s", h, strings.Join(line, "; "))
	}
}

// crashObjects lists the objects by class and label, or says why it cannot.
func crashObjects(t *testing.T, tok *Token) string {
	inv, err := tok.Objects(context.Background())
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, c := range inv.Certificates {
		out = append(out, fmt.Sprintf("cert %x %q", c.ID, c.Label))
	}
	for _, k := range append(inv.PrivateKeys, inv.PublicKeys...) {
		out = append(out, fmt.Sprintf("%s %x %q", k.Class, k.ID, k.Label))
	}
	for _, g := range inv.Ghosts {
		out = append(out, fmt.Sprintf("ghost %s %x", g.Class, g.ID))
	}
	return strings.Join(out, ", ")
}

// crashFiles maps the token directory's files to their sizes.
func crashFiles(dir string) map[string]int64 {
	out := map[string]int64{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				out[filepath.Base(p)] = fi.Size()
			}
		}
		return nil
	})
	return out
}

// crashDiff says which files went (-), came (+) or changed size (~).
func crashDiff(a, b map[string]int64) string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, fmt.Sprintf("-%s(%d)", k, v))
		} else if w != v {
			out = append(out, fmt.Sprintf("~%s(%d->%d)", k, v, w))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("+%s(%d)", k, v))
		}
	}
	return strings.Join(out, " ")
}

// TestRecoverLeavesALiveInstallAlone: while another process holds the
// token (an install still running), Recover refuses and changes nothing;
// once that process is killed, Recover proceeds.
func TestRecoverLeavesALiveInstallAlone(t *testing.T) {
	if os.Getenv(crashChildEnv) == "1" {
		t.Skip("in the child")
	}
	f := newInstFixture(t, ECP256, "ec")
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ca.der"), f.ca.cert.Raw, 0o600)
	journal, err := OpenJournal(filepath.Join(dir, "journal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The running install's journal: a re-key making its key.
	e := &JournalEntry{Serial: f.serial, Mode: Rekey, Step: StepIntent, OldID: f.oldID, NewID: []byte{0x0c, 0x01},
		OldCertSHA256: f.oldSum(), Label: instLabel, KeyType: ECP256}
	if err := journal.Begin(e); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInstallCrashChild$", "-test.count=1")
	cmd.Env = append(f.env.Environ(), crashChildEnv+"=1", "UKEY_CRASH_ACTION=hold",
		"UKEY_CRASH_DIR="+dir, "UKEY_CRASH_MODULE="+f.env.Module, "UKEY_CRASH_SERIAL="+f.serial, "UKEY_CRASH_MODE=rekey")
	cmd.Stdin = strings.NewReader(instUserPIN + "\n")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("child: %q", sc.Text())
	}
	if _, err := Recover(ctx, f.tok, journal.Dir()); !errors.Is(err, ErrInstallInProgress) {
		t.Fatalf("recover during a live install: %v, want ErrInstallInProgress", err)
	}
	if _, err := Install(ctx, f.tok, InstallRequest{Mode: SameKey, Cert: f.ca.renewal(t, f.state(t).cert.Info.PublicKey),
		Chain: f.chain, Journal: journal, Now: func() time.Time { return instNow }}); !errors.Is(err, ErrInstallInProgress) {
		t.Fatalf("install during a live install: %v, want ErrInstallInProgress", err)
	}
	if got, _ := journal.Load(f.serial); got == nil {
		t.Fatal("the live install's journal was removed")
	}
	cmd.Process.Kill()
	cmd.Wait()
	res, err := Recover(ctx, f.tok, journal.Dir())
	if err != nil || res.Outcome != "rolled_back" {
		t.Fatalf("recover after the install died: %+v, %v", res, err)
	}
	f.journal = journal
	f.assertOneUsable(t)
}
