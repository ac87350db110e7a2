package model_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/langtest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
)

func TestTokensVMEmptyThenTwoTokens(t *testing.T) {
	src := apptest.NewFakeSource()
	vm, _ := apptest.TokensVM(t, src)
	if !apptest.Get[bool](t, vm.Searching) || apptest.Get[string](t, vm.Status) != "正在查找 UKey…" {
		t.Fatal("a new view-model should say it is searching")
	}
	if err := vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if apptest.Get[bool](t, vm.Searching) || len(apptest.Get[[]model.TokenView](t, vm.Tokens)) != 0 || apptest.Get[string](t, vm.Status) != "未检测到 UKey" {
		t.Fatalf("no token: searching %v, status %q", apptest.Get[bool](t, vm.Searching), apptest.Get[string](t, vm.Status))
	}
	toks := apptest.DemoTokens()
	src.Insert(toks[0], "12345678", 10)
	src.Insert(toks[1], "1111", 6)
	if err := vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	views := apptest.Get[[]model.TokenView](t, vm.Tokens)
	if len(views) != 2 || apptest.Get[string](t, vm.Status) != "已检测到 2 个 UKey" {
		t.Fatalf("got %d tokens, status %q", len(views), apptest.Get[string](t, vm.Status))
	}
	// Sorted by serial, whatever order they were inserted in.
	if views[0].Serial != "0000000000000042" || views[1].Serial != "9A1B2C3D4E5F6071" {
		t.Errorf("order: %s, %s", views[0].Serial, views[1].Serial)
	}
	demo := views[1]
	want := model.CertView{Holder: "深圳市示例科技有限公司", Serial: "3F2A9C", Issuer: "UKey Renew Demo CA",
		ValidTo: "2026年12月13日", KeyType: "ECDSA P-256", Badge: "剩余 20 天", Level: model.LevelWarning, ObjLabel: "签名证书"}
	if demo.Title != "UKey-Demo" || demo.Device != "SoftHSM project SoftHSM v2" || len(demo.Certs) != 1 || demo.Certs[0] != want {
		t.Errorf("demo token view:\n got %+v\nwant cert %+v", demo, want)
	}
	old := views[0].Certs[0]
	if old.Badge != "已过期 3 天" || old.Level != model.LevelError {
		t.Errorf("expired certificate badge %q level %d", old.Badge, old.Level)
	}
	if views[0].PINNote != "" || views[0].CertsProblem != "" || views[0].LabelProblem {
		t.Errorf("a healthy token shows a problem: %+v", views[0])
	}
}

func TestTokensVMClockMovesBadges(t *testing.T) {
	src := apptest.NewFakeSource()
	src.Insert(apptest.DemoTokens()[0], "12345678", 10)
	vm, clock := apptest.TokensVM(t, src)
	if err := vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	lists := src.Lists()
	for _, step := range []struct {
		advance time.Duration
		badge   string
		lvl     model.Level
	}{
		{0, "剩余 20 天", model.LevelWarning},
		{19 * 24 * time.Hour, "剩余 1 天", model.LevelWarning},
		{24 * time.Hour, "今天到期", model.LevelWarning},
		{2 * time.Hour, "今天已过期", model.LevelError},
		{24 * time.Hour, "已过期 1 天", model.LevelError},
	} {
		clock.Advance(step.advance)
		vm.Recompute()
		c := apptest.Get[[]model.TokenView](t, vm.Tokens)[0].Certs[0]
		if c.Badge != step.badge || c.Level != step.lvl {
			t.Errorf("at %s: badge %q level %d, want %q level %d", clock.Now(), c.Badge, c.Level, step.badge, step.lvl)
		}
	}
	if src.Lists() != lists {
		t.Error("Recompute read the token again; it should only re-derive from the clock")
	}
}

func TestTokensVMUnreadableTokenDoesNotHideOthers(t *testing.T) {
	src := apptest.NewFakeSource()
	good := apptest.DemoTokens()[0]
	src.Insert(good, "12345678", 10)
	src.Insert(model.Token{Serial: "BAD0000000000001", LabelErr: errors.New("label is not text"),
		CertsErr: errors.New("find objects: device error")}, "0000", 10)
	src.Insert(model.Token{Serial: "BAD0000000000002", Label: "  ",
		Certs: []model.Cert{{Label: "旧证书", Err: errors.New("x509: malformed certificate")}, good.Certs[0]}}, "0000", 10)
	src.Insert(model.Token{Serial: "EMPTY00000000003", Label: "空锁"}, "0000", 10)
	vm, _ := apptest.TokensVM(t, src)
	if err := vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	views := apptest.Get[[]model.TokenView](t, vm.Tokens)
	if len(views) != 4 {
		t.Fatalf("got %d tokens, want 4", len(views))
	}
	by := map[string]model.TokenView{}
	for _, v := range views {
		by[v.Serial] = v
	}
	bad := by["BAD0000000000001"]
	if !bad.LabelProblem || bad.Title != "UKey BAD0000000000001" || bad.LabelNote != "名称无法读取" ||
		!strings.Contains(bad.CertsProblem, "device error") || len(bad.Certs) != 0 || bad.Damaged != "" {
		t.Errorf("unreadable token: %+v", bad)
	}
	blank := by["BAD0000000000002"]
	if !blank.LabelProblem || blank.Title != "UKey BAD0000000000002" || len(blank.Certs) != 1 {
		t.Fatalf("blank label token: %+v", blank)
	}
	// The certificate that does not parse is one plain line, not a card.
	if blank.Damaged != "这枚 UKey 上有一个对象无法读取，其余证书不受影响；请联系证书机构。" || blank.Repairable || blank.CertsProblem != "" {
		t.Errorf("unparsable certificate: damaged %q repairable %v problem %q", blank.Damaged, blank.Repairable, blank.CertsProblem)
	}
	if c := blank.Certs[0]; c.Problem != "" || c.Badge != "剩余 20 天" || c.Holder != "深圳市示例科技有限公司" {
		t.Errorf("the readable certificate beside it: %+v", c)
	}
	if by["EMPTY00000000003"].CertsProblem != "这个 UKey 上没有证书。" {
		t.Errorf("token without certificates: %+v", by["EMPTY00000000003"])
	}
	if by[good.Serial].CertsProblem != "" || by[good.Serial].LabelProblem {
		t.Errorf("the good token shows a problem: %+v", by[good.Serial])
	}
}

func TestTokensVMModuleFailureKeepsLastList(t *testing.T) {
	src := apptest.NewFakeSource()
	src.Insert(apptest.DemoTokens()[0], "12345678", 10)
	vm, _ := apptest.TokensVM(t, src)
	if err := vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.FailList(apptest.ErrFakeModule)
	err := vm.Reload(context.Background())
	if !errors.Is(err, apptest.ErrFakeModule) {
		t.Fatalf("Reload error = %v, want the module's", err)
	}
	if p := apptest.Get[string](t, vm.Problem); !strings.Contains(p, "CKR_GENERAL_ERROR") || !strings.Contains(p, "驱动") {
		t.Errorf("problem %q should quote the error and say what to do", p)
	}
	if len(apptest.Get[[]model.TokenView](t, vm.Tokens)) != 1 {
		t.Error("a failed listing dropped the token shown before")
	}
	src.FailList(nil)
	if err := vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := apptest.Get[string](t, vm.Problem); p != "" {
		t.Errorf("problem %q stays after a good listing", p)
	}
}

func TestTokensVMRunFollowsInsertAndRemove(t *testing.T) {
	src := apptest.NewFakeSource()
	vm, _ := apptest.TokensVM(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { vm.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	count := func(n int) func() bool {
		return func() bool { v, _ := vm.Tokens.Get(); s, _ := vm.Searching.Get(); return !s && len(v) == n }
	}
	apptest.Eventually(t, "the first listing", count(0))
	toks := apptest.DemoTokens()
	src.Insert(toks[0], "1", 3)
	apptest.Eventually(t, "the inserted token", count(1))
	src.Insert(toks[1], "1", 3)
	apptest.Eventually(t, "the second token", count(2))
	src.Remove(toks[0].Serial)
	apptest.Eventually(t, "the removal", func() bool {
		v, _ := vm.Tokens.Get()
		return len(v) == 1 && v[0].Serial == toks[1].Serial
	})
	src.StopWatch()
	apptest.Eventually(t, "the watch-stopped notice", func() bool {
		p, _ := vm.Problem.Get()
		return strings.Contains(p, "刷新")
	})
}

// TestTokensVMRestartsAStoppedWatcher: a watcher that stops (or cannot
// start) is restarted, the notice goes, and insertion is followed again.
func TestTokensVMRestartsAStoppedWatcher(t *testing.T) {
	src := apptest.NewFakeSource()
	src.FailWatch(errors.New("fake: module busy"))
	vm, _ := apptest.TokensVM(t, src)
	vm.WatchRetry = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { vm.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	apptest.Eventually(t, "the watch-failed notice", func() bool { p, _ := vm.Problem.Get(); return strings.Contains(p, "module busy") })
	src.FailWatch(nil)
	apptest.Eventually(t, "the notice to go", func() bool { p, _ := vm.Problem.Get(); return p == "" })
	src.Insert(apptest.DemoTokens()[0], "1", 3)
	apptest.Eventually(t, "the inserted token", func() bool { v, _ := vm.Tokens.Get(); return len(v) == 1 })
	src.StopWatch()
	apptest.Eventually(t, "the restarted watcher", func() bool { return src.Watchers() == 1 })
	src.Insert(apptest.DemoTokens()[1], "1", 3)
	apptest.Eventually(t, "the second token", func() bool { v, _ := vm.Tokens.Get(); p, _ := vm.Problem.Get(); return len(v) == 2 && p == "" })
}

func TestTokensVMRunWithoutWatcherStillLists(t *testing.T) {
	src := apptest.NewFakeSource()
	src.Insert(apptest.DemoTokens()[0], "1", 3)
	src.FailWatch(fmt.Errorf("fake: %w", errors.New("C_WaitForSlotEvent not supported")))
	vm, _ := apptest.TokensVM(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { vm.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	apptest.Eventually(t, "the listing and the notice", func() bool {
		v, _ := vm.Tokens.Get()
		p, _ := vm.Problem.Get()
		return len(v) == 1 && strings.Contains(p, "not supported") && strings.Contains(p, "刷新")
	})
}

func TestTokensVMNoDriverSaysInstallIt(t *testing.T) {
	src := apptest.NewFakeSource()
	src.FailList(fmt.Errorf("%w: open /usr/lib/libeps2003csp11.so: no such file", model.ErrNoModule))
	vm, _ := apptest.TokensVM(t, src)
	if err := vm.Reload(context.Background()); !errors.Is(err, model.ErrNoModule) {
		t.Fatalf("Reload: %v", err)
	}
	p := apptest.Get[string](t, vm.Problem)
	if !strings.Contains(p, "未找到 UKey 驱动") || !strings.Contains(p, "重新打开本程序") || !strings.Contains(p, "libeps2003csp11.so") {
		t.Errorf("problem %q should say to install the driver and name the file tried", p)
	}
}

// TestTokensVMDamagedObjectsAndRenew: a token with a good certificate and
// one damaged object shows the certificate and one plain line; the line
// offers the repair only when repairing removes the object; the renew
// button is offered only for a certificate whose key pair is on the token.
func TestTokensVMDamagedObjectsAndRenew(t *testing.T) {
	src := apptest.NewFakeDetailSource()
	toks := apptest.DemoTokens()
	src.Insert(toks[0], "1", 3)
	src.KeyPairs[toks[0].Serial] = []bool{true}
	src.Damaged[toks[0].Serial] = []model.DamagedObject{{Reason: "CKR_ATTRIBUTE_VALUE_INVALID", Repairable: true}}
	two := toks[1]
	two.Certs = append(two.Certs, model.Cert{Label: "坏证书", Err: errors.New("x509: malformed certificate")})
	src.Insert(two, "1", 3)
	src.KeyPairs[two.Serial] = []bool{false, false}
	src.Damaged[two.Serial] = []model.DamagedObject{{Label: "vendor", Reason: "CKR_FUNCTION_FAILED"}}
	src.Insert(model.Token{Serial: "5E7A1000000000FF", Label: "a3f1c2", LabelErr: errors.New("label is neither UTF-8 nor GBK"),
		Certs: toks[0].Certs}, "1", 3)
	vm, _ := apptest.TokensVM(t, src)
	if err := vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	by := map[string]model.TokenView{}
	for _, v := range apptest.Get[[]model.TokenView](t, vm.Tokens) {
		by[v.Serial] = v
	}
	one := by[toks[0].Serial]
	if len(one.Certs) != 1 || !one.Certs[0].CanRenew || one.Certs[0].Badge != "剩余 20 天" || one.CertsProblem != "" {
		t.Errorf("the good certificate: %+v", one)
	}
	if one.Damaged != "这枚 UKey 上有一个对象无法读取，其余证书不受影响；可以运行“修复”或联系证书机构。" || !one.Repairable {
		t.Errorf("one repairable damaged object: %q repairable %v", one.Damaged, one.Repairable)
	}
	second := by[two.Serial]
	if len(second.Certs) != 1 || second.Certs[0].CanRenew {
		t.Errorf("a certificate without its key pair offers renewal: %+v", second.Certs)
	}
	if second.Damaged != "这枚 UKey 上有 2 个对象无法读取，其余证书不受影响；请联系证书机构。" || second.Repairable {
		t.Errorf("two damaged objects, none repairable: %q repairable %v", second.Damaged, second.Repairable)
	}
	noLabel := by["5E7A1000000000FF"]
	if noLabel.Title != "UKey 5E7A1000000000FF" || !noLabel.LabelProblem || noLabel.LabelNote != "名称无法读取" || len(noLabel.Certs) != 1 || noLabel.Certs[0].CanRenew {
		t.Errorf("a label that does not decode: %+v", noLabel)
	}

	langtest.Use(t, "en_GB.UTF-8")
	vm.Recompute()
	for _, v := range apptest.Get[[]model.TokenView](t, vm.Tokens) {
		if v.Serial == toks[0].Serial && v.Damaged != "One object on this UKey cannot be read; the other certificates are not affected. You can run “Repair” or contact your certificate authority." {
			t.Errorf("in English: %q", v.Damaged)
		}
	}
}
