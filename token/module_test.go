package token

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

func TestOpenModuleErrorsNameFileAndReason(t *testing.T) {
	dir := t.TempDir()
	notLib := filepath.Join(dir, "eps2003csp11.dll")
	if err := os.WriteFile(notLib, []byte("MZ this is not a library"), 0o600); err != nil {
		t.Fatal(err)
	}
	dll32 := filepath.Join(dir, "ShuttleCsp11_3003.dll")
	if err := os.WriteFile(dll32, pe386Header(), 0o600); err != nil {
		t.Fatal(err)
	}
	elf32 := filepath.Join(dir, "libvendor32.so")
	if err := os.WriteFile(elf32, elf386Header(), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, reason string }{
		{"", "empty path"},
		{filepath.Join(dir, "missing.so"), "no such file"},
		{dir, "is a directory"},
		{notLib, "not a shared library"},
		{dll32, "Windows DLL for 386"},
		{elf32, "ELF library for 386"},
	}
	for _, c := range cases {
		m, err := OpenModule(c.path)
		if err == nil {
			m.Close()
			t.Errorf("%q: loaded", c.path)
			continue
		}
		if !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%q: error %q should name the file and say %q", c.path, err, c.reason)
		}
	}
}

// TestModuleSharedAndFinalised: two OpenModule calls share one context; the
// module is finalised only after the last Module and Token close, and the
// next OpenModule reads the (new) configuration.
func TestModuleSharedAndFinalised(t *testing.T) {
	env := softhsmtest.New(t)
	serial := env.InitToken(t, "one", soPIN, userPIN)
	ctx := context.Background()
	a, err := OpenModule(env.Module)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenModule(env.Module)
	if err != nil {
		t.Fatal(err)
	}
	if a.lib != b.lib {
		t.Fatal("two contexts for one module path")
	}
	tok, err := a.Open(ctx, serial)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Tokens(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("closed module still answers: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The token keeps the module alive.
	if _, err := tok.Certificates(ctx); err != nil {
		t.Errorf("token after its modules closed: %v", err)
	}
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}

	// A second environment in the same process: a fresh C_Initialize sees it.
	env2 := softhsmtest.New(t)
	serial2 := env2.InitToken(t, "two", soPIN, userPIN)
	c, err := OpenModule(env2.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	infos, err := c.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Serial != serial2 {
		t.Errorf("after re-initialising: %+v (want only %s, not %s)", infos, serial2, serial)
	}
}

func TestReloadRefusedWhileTokenOpen(t *testing.T) {
	env, m, serials := openEnv(t, "busy")
	ctx := context.Background()
	tok := openToken(t, m, serials[0])
	if err := m.Reload(ctx); !errors.Is(err, ErrBusy) {
		t.Errorf("reload with an open token: %v", err)
	}
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}
	later := env.InitToken(t, "later", soPIN, userPIN)
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	infos, err := m.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Errorf("after reload: %d tokens, want 2 (with %s)", len(infos), later)
	}
}

// TestTokenRemovedWhileOpen simulates pulling the token out: its directory
// disappears under an open session.
func TestTokenRemovedWhileOpen(t *testing.T) {
	env, m, serials := openEnv(t, "pulled")
	ctx := context.Background()
	tok := openToken(t, m, serials[0])
	login(t, tok)
	if err := os.Rename(env.TokenDir, env.TokenDir+".gone"); err != nil {
		t.Fatal(err)
	}
	_, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256})
	if err == nil {
		t.Fatal("key generation on a removed token succeeded")
	}
	t.Logf("removed token: %v", err)
	if !errors.Is(err, ErrTokenRemoved) && !errors.Is(err, ErrSessionClosed) && !errors.Is(err, ErrDeviceError) {
		t.Errorf("error %v is not one a GUI can explain", err)
	}
	infos, err := m.Tokens(ctx)
	if err != nil || len(infos) != 0 {
		t.Errorf("tokens after removal: %+v, %v", infos, err)
	}
}

func TestDiscover(t *testing.T) {
	present := map[string]bool{
		`C:\Windows\SysWOW64\eps2003csp11.dll`:      true,
		`C:\Windows\System32\ngp11v211.dll`:         true,
		`C:\Windows\System32\ShuttleCsp11_3003.dll`: true,
	}
	got := discover("windows", `C:\Windows`, func(p string) bool { return present[p] })
	if len(got) != 3 {
		t.Fatalf("found %+v", got)
	}
	for _, k := range got {
		if !present[k.Path] || k.Vendor == "" {
			t.Errorf("%+v", k)
		}
	}
	names := map[string]bool{}
	for _, k := range WellKnownModules("windows") {
		names[filepath.Base(k.Path)] = true
	}
	for _, n := range []string{"eps2003csp11.dll", "ShuttleCsp11_3003.dll", "ngp11v211.dll", "WDPKCS.dll"} {
		if !names[n] {
			t.Errorf("%s not a well-known Windows module", n)
		}
	}
	linux := discover("linux", "", func(p string) bool { return p == softhsmtest.DefaultModule })
	if len(linux) != 1 || linux[0].Vendor != "SoftHSM2" {
		t.Errorf("linux: %+v", linux)
	}
}

// pe386Header is the smallest PE file debug/pe accepts: a DOS stub pointing
// at a COFF header for i386 (a 32-bit vendor DLL, as far as a loader can tell).
func pe386Header() []byte {
	b := make([]byte, 128) // debug/pe reads a 96-byte DOS header first
	copy(b, "MZ")
	b[0x3c] = 0x40
	copy(b[0x40:], "PE\x00\x00")
	b[0x44], b[0x45] = 0x4c, 0x01 // IMAGE_FILE_MACHINE_I386
	return b
}

// elf386Header is an ELF32 header for i386 with no sections.
func elf386Header() []byte {
	b := make([]byte, 52)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 1, 1, 1 // ELFCLASS32, little-endian, version 1
	b[16] = 3                  // ET_DYN
	b[18] = 3                  // EM_386
	b[20] = 1                  // version
	b[40] = 52                 // e_ehsize
	return b
}

// TestOpenWhileAnotherProcessLogsIn: SoftHSM2 fails C_GetTokenInfo now and
// then while another process logs in to the token; Open must still find it.
func TestOpenWhileAnotherProcessLogsIn(t *testing.T) {
	env, m, serials := openEnv(t, "busy")
	tool := testenv.LookPath(t, "pkcs11-tool")
	slot := env.Slot(t, serials[0])
	stop := make(chan struct{})
	stopped := make(chan struct{})
	var logins atomic.Int32
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c := exec.Command(tool, "--module", env.Module, "--slot", slot, "--login", "--pin", userPIN, "--list-objects")
			c.Env = env.Environ()
			if err := c.Run(); err == nil {
				logins.Add(1)
			}
		}
	}()
	defer func() { close(stop); <-stopped }()
	ctx := context.Background()
	// Open over and over until the other process has logged in 30 times.
	opens := 0
	for ; logins.Load() < 30 && opens < 1_000_000; opens++ {
		tok, err := m.Open(ctx, serials[0])
		if err != nil {
			t.Fatalf("open %d (after %d logins elsewhere): %v", opens, logins.Load(), err)
		}
		tok.Close()
	}
	t.Logf("%d opens during %d logins by pkcs11-tool", opens, logins.Load())
}
