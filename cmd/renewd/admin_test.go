package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

func TestAdminCommands(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	noEnv := func(string) string { return "" }
	cli := func(stdin string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		// The flags go before the file arguments (flag stops at the first non-flag).
		full := append([]string{args[0], args[1], "--dev", "--data", data}, args[2:]...)
		err := run(ctx, full, strings.NewReader(stdin), &out, &errOut, noEnv)
		return strings.TrimSpace(out.String()), err
	}
	code := demoCreditCode()
	if _, err := cli("", "org", "add", "--name", "某公司", "--credit-code", code[:17]+"0"); err == nil && code[17] != '0' {
		t.Fatal("a wrong credit code check character was accepted")
	}
	org, err := cli("", "org", "add", "--name", "深圳市命令行有限公司", "--credit-code", strings.ToLower(code))
	if err != nil || len(org) != 32 {
		t.Fatalf("org add: %q %v", org, err)
	}
	if _, err := cli("", "org", "add", "--name", "重复", "--credit-code", code); err == nil {
		t.Fatal("a second organisation with the same credit code was accepted")
	}
	if _, err := cli("", "org", "add", "--name", "某\u202e司公", "--credit-code", code); renewal.AsError(err).FieldError("name") == nil ||
		renewal.AsError(err).FieldError("name").Code != renewal.CodeTextCharacter {
		t.Fatalf("an organisation name with U+202E: %v", err)
	}
	if _, err := cli("", "org", "rename", "--id", "ffff", "--name", "某公司"); err == nil {
		t.Fatal("an unknown organisation was renamed")
	}
	if _, err := cli("", "org", "rename", "--id", org, "--name", " "); err == nil {
		t.Fatal("an organisation was renamed to nothing")
	}
	if _, err := cli("", "org", "rename", "--id", org, "--name", "深圳市命令行集团有限公司"); err != nil {
		t.Fatalf("org rename: %v", err)
	}
	for name, args := range map[string][]string{
		"clerk without org":    {"--role", "clerk", "--name", "张三", "--mobile", "13800138001"},
		"clerk of unknown org": {"--role", "clerk", "--name", "张三", "--mobile", "13800138001", "--org", "ffff"},
		"staff with org":       {"--role", "admin", "--name", "管理员", "--account", "root", "--org", org, "--password-stdin"},
		"no way to sign in":    {"--role", "reviewer", "--name", "审核员"},
		"account no password":  {"--role", "reviewer", "--name", "审核员", "--account", "rev"},
		"bad mobile":           {"--role", "clerk", "--name", "张三", "--mobile", "123", "--org", org},
		"bad role":             {"--role", "system", "--name", "x", "--account", "x", "--password-stdin"},
		"zero-width in a name": {"--role", "reviewer", "--name", "审\u200b核员", "--account", "rev2", "--password-stdin"},
	} {
		if _, err := cli("a long enough password\n", append([]string{"user", "add"}, args...)...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := cli("short\n", "user", "add", "--role", "reviewer", "--name", "审核员", "--account", "rev", "--password-stdin"); err == nil {
		t.Error("a short password was accepted")
	}
	clerk, err := cli("", "user", "add", "--role", "clerk", "--name", "张三", "--mobile", "+86 138 0013 8001", "--org", org)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := cli("审核员的长口令 2026\n", "user", "add", "--role", "reviewer", "--name", "审核员 Rene\u0301", "--account", "rev", "--password-stdin")
	if err != nil {
		t.Fatal(err)
	}
	files, serials := demoCerts(t, 2)
	out, err := cli("", append([]string{"cert", "add", "--org", org}, files...)...)
	if err != nil || out != serials[0]+"\n"+serials[1] {
		t.Fatalf("cert add: %q %v", out, err)
	}
	if _, err := cli("", "cert", "add", "--org", "ffff", files[0]); err == nil {
		t.Fatal("certificates of an unknown organisation were accepted")
	}
	// What the commands wrote is what the service reads.
	st, err := store.OpenSQLite(ctx, filepath.Join(data, "renewd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if o, err := st.Organisation(ctx, org); err != nil || o.Name != "深圳市命令行集团有限公司" || o.CreditCode != code {
		t.Fatalf("renamed organisation %+v %v", o, err)
	}
	u, err := st.UserByMobile(ctx, "13800138001")
	if err != nil || u.ID != clerk || u.OrganisationID != org || u.Role != renewal.RoleClerk {
		t.Fatalf("clerk %+v %v", u, err)
	}
	r, err := st.UserByAccount(ctx, "rev")
	if err == nil && r.Name != "审核员 Ren\u00e9" {
		t.Errorf("reviewer's name %+q, want NFC", r.Name)
	}
	if err != nil || r.ID != rev || auth.NewHasher().Verify(ctx, r.PasswordHash, "审核员的长口令 2026") != nil {
		t.Fatalf("reviewer %+v %v", r, err)
	}
	if c, err := st.Certificate(ctx, store.OrgScope(org), serials[1]); err != nil || c.KeyType != renewal.KeyECDSA {
		t.Fatalf("certificate %+v %v", c, err)
	}
	v, err := st.VerifyAudit(ctx)
	if err != nil || !v.OK || v.Entries < 5 {
		t.Fatalf("audit %+v %v", v, err)
	}
}
