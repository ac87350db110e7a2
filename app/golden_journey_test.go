package app

import (
	"context"
	"image"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// The journey's screens rendered in one fixed state each and compared with
// the reference images in testdata/journey_*.png (the product's theme, a
// 900×640 window, the software painter), so a change of layout shows up as
// a failing test. A mismatch writes what was drawn to testdata/failed/.
//
// Each state is deterministic: the view-models are filled directly (as
// their service calls would fill them) with fixed serials, dates, amounts
// and a fixed QR content; the clocks are frozen, so the tickers the
// screens start redraw the same thing; no screen talks to a service.

// goldenURL is the service the screens name; nothing connects to it.
const goldenURL = "https://renew.ca.example.cn"

// goldenNow is the frozen time of every golden screen.
var goldenNow = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// goldenFmt formats as the Chinese interface does, in UTC.
var goldenFmt = model.Formatter{Lang: model.LangZH, Loc: time.UTC}

// frozenClock is a client.Clock that never moves: the watcher would sleep
// until its context ends.
type frozenClock struct{ t time.Time }

func (c frozenClock) Now() time.Time { return c.t }

func (c frozenClock) Sleep(ctx context.Context, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

// goldenAccount is a signed-out account of goldenURL (never contacted).
func goldenAccount(t *testing.T, url string) *model.Account {
	t.Helper()
	acc, err := model.NewAccount(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

// goldenForm is a complete, valid application form with fixed values.
func goldenForm(t *testing.T) renewal.ApplicationForm {
	t.Helper()
	id := "44030519850615123"
	c, err := renewal.IDNumberCheckChar(id)
	if err != nil {
		t.Fatal(err)
	}
	org, code := "深圳市示例科技有限公司", renewdtest.CreditCode("91440300MA5G8K2")
	return renewal.ApplicationForm{
		Years:               2,
		Organisation:        renewal.Organisation{Name: org, CreditCode: code},
		LegalRepresentative: renewal.Person{Name: "张三", IDNumber: id + string(c), Mobile: "13800138000"},
		Bank:                renewal.BankAccount{AccountName: org, BankName: "招商银行深圳分行", AccountNumber: "755912345610801"},
		Invoice:             renewal.Invoice{Kind: renewal.InvoiceElectronic, Title: org, TaxID: code, Email: "finance@example.cn", Phone: "13800138000"},
		Pickup:              renewal.Pickup{Method: renewal.PickupOnSite},
	}
}

// goldenApp is an application of the certificate 3F2A9C01 in state st.
func goldenApp(t *testing.T, st renewal.State) renewal.Application {
	t.Helper()
	created := goldenNow.AddDate(0, 0, -3)
	return renewal.Application{ID: "app-golden-0001", OrganisationID: "org-golden", CreatedBy: "user-golden", CertSerial: "3f2a9c01",
		Form: goldenForm(t), State: st, PriceFen: 550_00, Version: 4, CreatedAt: created, UpdatedAt: goldenNow.AddDate(0, 0, -1)}
}

// goldenWindow shows o as the journey does (padded) in the product's theme
// at 900×640.
func goldenWindow(t *testing.T, o fyne.CanvasObject) fyne.Window {
	t.Helper()
	return newTestWindow(t, container.NewPadded(o))
}

// assertGolden waits until every text in want is on the window (the
// bindings' updates arrive on the UI goroutine), takes the focus away (no
// cursor in the image) and compares the window with testdata/name.
func assertGolden(t *testing.T, w fyne.Window, name string, want ...string) {
	t.Helper()
	var screen string
	shows := func() bool {
		ok := true
		fyne.DoAndWait(func() {
			all := []fyne.CanvasObject{w.Canvas().Content()}
			all = append(all, w.Canvas().Overlays().List()...)
			var parts []string
			for _, o := range all {
				parts = append(parts, texts(o)...)
			}
			screen = strings.Join(parts, "|")
			for _, s := range want {
				if !strings.Contains(screen, s) {
					ok = false
				}
			}
		})
		return ok
	}
	for deadline := time.Now().Add(apptest.Patience); !shows(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the window does not show all of %q; it shows: %s", name, want, screen)
		}
	}
	var img image.Image
	fyne.DoAndWait(w.Canvas().Unfocus)
	fyne.DoAndWait(func() {
		if f := w.Canvas().Focused(); f != nil {
			t.Errorf("%s: the focus is still on %T", name, f)
		}
		img = w.Canvas().Capture()
	})
	if !test.AssertImageMatches(t, name, img) {
		t.Logf("the screen shows: %s", screen)
	}
}

// Signed out, on the SMS tab, the mobile typed, before asking for a code.
func TestGoldenJourneySignIn(t *testing.T) {
	acc := goldenAccount(t, goldenURL)
	vm := model.NewSignInVM(acc, fakeclock.New(goldenNow))
	s := newSignInScreen(t.Context(), vm, acc)
	w := goldenWindow(t, s.Object())
	_ = vm.Mobile.Set("13800138000")
	onUI(t, "the mobile typed on the SMS tab", func() bool { return s.Mobile.Text == "13800138000" && s.Methods.SelectedIndex() == 0 })
	assertGolden(t, w, "journey_signin.png", "手机号|短信验证码", "续期服务："+goldenURL, "<获取验证码>")
}

// goldenRenewForm is the form filled with goldenApp, being edited, for
// certificate 3F2A9C01 chosen in the picker, at the default prices; the
// window is still empty.
func goldenRenewForm(t *testing.T) (*renewScreen, *model.RenewVM, fyne.Window, renewal.Application) {
	t.Helper()
	acc := goldenAccount(t, goldenURL)
	vm := model.NewRenewVM(acc, goldenFmt)
	p := renewal.DefaultPolicy()
	var prices []renewal.Price
	for i, fen := range p.PricesFen {
		prices = append(prices, renewal.Price{Years: i + 1, AmountFen: fen})
	}
	vm.PresetPrices(prices)
	s := newRenewScreen(t.Context(), vm)
	// The form goes on the window once filled: a form that becomes ready
	// puts the focus in its first field, and a focused entry keeps
	// drawing its cursor even after losing the focus in the test driver.
	w := goldenWindow(t, widget.NewLabel(""))
	opt := "深圳市示例科技有限公司 · 3F2A9C01 · 剩余 20 天"
	fyne.DoAndWait(func() {
		s.SetTokens([]model.TokenView{{Serial: "9A1B2C3D4E5F6071", Certs: []model.CertView{{Holder: "深圳市示例科技有限公司", Serial: "3F2A9C01", Badge: "剩余 20 天", CanRenew: true}}}})
		s.Pick.Selected = opt // as chosen, without asking the service again
		s.Pick.Refresh()
	})
	_ = vm.Serial.Set("3f2a9c01")
	a := goldenApp(t, renewal.State{Status: renewal.StatusEditing, Payment: renewal.PaymentUnpaid, FinVerify: renewal.FinVerifyPending})
	if err := vm.PresetApplication(&a); err != nil {
		t.Fatal(err)
	}
	return s, vm, w, a
}

// The form pre-filled for certificate 3F2A9C01, two years, with a credit
// code whose check character is wrong: its message stands beneath it.
func TestGoldenJourneyRenewForm(t *testing.T) {
	s, vm, w, a := goldenRenewForm(t)
	code := a.Form.Organisation.CreditCode
	bad := code[:17] + "0"
	if bad == code {
		bad = code[:17] + "1"
	}
	_ = vm.Fields[renewal.FieldCreditCode].Set(bad)
	msg := apptest.Get[string](t, vm.Msgs[renewal.FieldCreditCode])
	if msg == "" {
		t.Fatalf("no message for the credit code %s", bad)
	}
	onUI(t, "the fields filled", func() bool {
		return s.Entries[renewal.FieldCreditCode].Text == bad && s.Entries[renewal.FieldOrgName].Text == a.Form.Organisation.Name
	})
	fyne.DoAndWait(func() {}) // the focus asked for when the form became ready (nowhere: not on a window)
	fyne.DoAndWait(func() { w.SetContent(container.NewPadded(s.Object())) })
	assertGolden(t, w, "journey_renew.png", "证书序列号 3F2A9C01（从 UKey 读取）", "已根据证书和上次申请预先填好", "¥550.00", msg)
}

// One approved application, not paid yet: its progress and the buttons
// the state allows (pay, documents, cancel).
func TestGoldenJourneyApplications(t *testing.T) {
	acc := goldenAccount(t, goldenURL)
	vm := model.NewApplicationsVM(acc, fakeclock.New(goldenNow), goldenFmt)
	s := newApplicationsScreen(t.Context(), vm, nil, appsNav{Edit: func(model.AppRow) {}, Pay: func(model.AppRow) {}, Verify: func(model.AppRow) {},
		Write: func(model.AppRow) {}, Invoice: func(model.AppRow) {}})
	w := goldenWindow(t, s.Object())
	s.win = w
	a := goldenApp(t, renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentUnpaid, FinVerify: renewal.FinVerifyPending})
	_ = vm.Rows.Set([]model.AppRow{vm.RowOf(a, renewal.DefaultPolicy())})
	onUI(t, "the card's buttons", func() bool {
		_, pay := s.Buttons[a.ID+"/pay"]
		_, cancel := s.Buttons[a.ID+"/cancel"]
		_, edit := s.Buttons[a.ID+"/edit"]
		return pay && cancel && !edit
	})
	assertGolden(t, w, "journey_apps.png", "[审核通过]", "证书序列号 3F2A9C01", "未支付 · ¥550.00 · 更新于 2026年11月22日",
		"✓ 填写申请  →  ✓ 审核  →  ● 支付  →  ○ 金融认证  →  ○ 写入 UKey", "<支付>", "<资料>", "<取消申请>")
}

// The QR code of a fixed code_url, ¥550.00, the countdown frozen at 04:58.
func TestGoldenJourneyPay(t *testing.T) {
	acc := goldenAccount(t, goldenURL)
	clk := frozenClock{t: goldenNow}
	vm := model.NewPayVM(acc, clk, goldenFmt)
	ctx, cancel := context.WithCancel(t.Context())
	s := newPayScreen(ctx, vm)
	w := goldenWindow(t, s.Object())
	t.Cleanup(func() { cancel(); s.running.Wait() }) // the ticker ends before the window goes
	// What Start does with the service's answer: a code valid until 298 s
	// from now on a clock without skew.
	vm.PresetCode("app-golden-0001", client.Countdown{ExpiresAt: goldenNow.Add(298 * time.Second)})
	_ = vm.Code.Set("weixin://wxpay/bizpayurl?pr=GoldenQR01")
	_ = vm.Amount.Set(goldenFmt.Money(550_00))
	_ = vm.Message.Set(lang.X("pay.scan", "请用微信扫描二维码支付。支付完成后本页会自动进入下一步。"))
	vm.Tick()
	onUI(t, "the code drawn", func() bool { return s.qr.Image != nil })
	assertGolden(t, w, "journey_pay.png", "04:58", "¥550.00", "请用微信扫描二维码支付")
	if got := apptest.Get[float64](t, vm.Left); got != 298.0/300 {
		t.Errorf("bar at %v, want 298/300", got)
	}
}

// The transfer sent, three tries left, the code typed; the bank account
// may still be corrected.
func TestGoldenJourneyFinVerify(t *testing.T) {
	acc := goldenAccount(t, goldenURL)
	vm := model.NewFinVerifyVM(acc)
	s := newFinVerifyScreen(t.Context(), vm)
	w := goldenWindow(t, container.NewVScroll(s.Object()))
	a := goldenApp(t, renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyPending})
	vm.PresetApplication(&a)
	_ = vm.AccountName.Set(a.Form.Bank.AccountName)
	_ = vm.BankName.Set(a.Form.Bank.BankName)
	_ = vm.AccountNumber.Set(a.Form.Bank.AccountNumber)
	sent := goldenNow.Add(-10 * time.Minute)
	vm.PresetStatus(&renewal.FinVerifyStatus{State: renewal.FinVerifyPending, Account: "****0801", BankName: "招商银行深圳分行", SentAt: &sent, TriesLeft: 3})
	_ = vm.Code.Set("482913")
	onUI(t, "the code typed", func() bool { return s.Code.Text == "482913" })
	assertGolden(t, w, "journey_finverify.png", "发证机构已向 招商银行深圳分行 ****0801 转账 0.01 元", "还可尝试 3 次",
		"<提交验证码>") // no account correction while the transfer is pending
}

// The certificate written, read back and confirmed: the done mark, a full
// bar, no step running.
func TestGoldenJourneyWriteDone(t *testing.T) {
	acc := goldenAccount(t, goldenURL)
	vm := model.NewWriteVM(acc, nil, nil) // nothing is written: the state is the one Run leaves
	holder := widget.NewLabel("")
	w := goldenWindow(t, holder)
	s := newWriteScreen(t.Context(), vm, w)
	fyne.DoAndWait(func() { w.SetContent(container.NewPadded(s.Object())) })
	a := goldenApp(t, renewal.State{Status: renewal.StatusInstalled, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyVerified})
	vm.PresetTarget(&a, "9A1B2C3D4E5F6071")
	_ = vm.Progress.Set(1)
	_ = vm.StepText.Set("")
	_ = vm.Done.Set(true)
	_ = vm.Message.Set(lang.X("write.done", "新证书已写入 UKey 并校验通过，续期完成。"))
	fyne.DoAndWait(s.Show)
	onUI(t, "start disabled once done", func() bool { return s.Start.Disabled() })
	assertGolden(t, w, "journey_write_done.png", "续期证书 3F2A9C01，写入 UKey（序列号 9A1B2C3D4E5F6071）", "✓ 续期完成", "新证书已写入 UKey 并校验通过")
}

// The e-invoice issued: its number, where the link went, the button that
// opens it and the link.
func TestGoldenJourneyInvoice(t *testing.T) {
	acc := goldenAccount(t, goldenURL)
	vm := model.NewInvoiceVM(acc)
	s := newInvoiceScreen(t.Context(), vm)
	w := goldenWindow(t, container.NewVScroll(s.Object()))
	a := goldenApp(t, renewal.State{Status: renewal.StatusInstalled, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyVerified})
	vm.PresetApplication(&a)
	d := renewal.InvoiceRequest{Title: a.Form.Invoice.Title, TaxID: a.Form.Invoice.TaxID, Email: a.Form.Invoice.Email, Phone: a.Form.Invoice.Phone}
	_ = vm.Title.Set(d.Title)
	_ = vm.TaxID.Set(d.TaxID)
	_ = vm.Email.Set(d.Email)
	_ = vm.Phone.Set(d.Phone)
	vm.PresetStatus(a.State, &renewal.InvoiceStatus{State: renewal.InvoiceIssued, Kind: renewal.InvoiceKindVATOrdinary, Details: d, AmountFen: a.PriceFen,
		Number: "26442000000012345678", URL: "https://invoice.example.cn/v/26442000000012345678", RequestedAt: goldenNow.Add(-time.Hour)})
	assertGolden(t, w, "journey_invoice.png", "电子发票已开具，发票号码 26442000000012345678", "手机 13800138000 和邮箱 finance@example.cn",
		"https://invoice.example.cn/v/26442000000012345678", "发票类型：增值税普通发票（电子）")
}

// The documents dialog of an application being edited: the signed form
// and the ID's photo side uploaded, each with view and delete; an upload
// button per kind.
func TestGoldenJourneyDocuments(t *testing.T) {
	// The dialog reads the list from the service as it opens; with an
	// ended context that read fails at once, without a connection, and
	// the list is then given as it would have arrived.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	acc := goldenAccount(t, "http://127.0.0.1:9")
	vm := model.NewApplicationsVM(acc, fakeclock.New(goldenNow), goldenFmt)
	s := newApplicationsScreen(ctx, vm, nil, appsNav{Edit: func(model.AppRow) {}})
	w := goldenWindow(t, s.Object())
	s.win = w
	a := goldenApp(t, renewal.State{Status: renewal.StatusEditing, Payment: renewal.PaymentUnpaid, FinVerify: renewal.FinVerifyPending})
	r := vm.RowOf(a, renewal.DefaultPolicy())
	r.Docs = []string{"申请表-盖章.pdf", "身份证人像面.jpg"}
	_ = vm.Rows.Set([]model.AppRow{r})
	onUI(t, "the card's buttons", func() bool { _, ok := s.Buttons[a.ID+"/documents"]; return ok })
	var d *documentsDialog
	fyne.DoAndWait(func() { d = s.showDocuments(r) })
	if d == nil {
		t.Fatal("no documents dialog")
	}
	d.work.Wait()
	if m := apptest.Get[string](t, vm.Message); m == "" {
		t.Fatal("the read with an ended context did not fail")
	}
	_ = vm.Message.Set("")
	up := goldenNow.Add(-26 * time.Hour)
	docs := []renewal.Document{
		{ID: "doc-golden-1", Kind: renewal.DocApplicationForm, Name: "申请表-盖章.pdf", ContentType: renewal.ContentPDF, Size: 412_345, CreatedAt: up},
		{ID: "doc-golden-2", Kind: renewal.DocIDFront, Name: "身份证人像面.jpg", ContentType: renewal.ContentJPEG, Size: 180_000, CreatedAt: up.Add(7 * time.Minute)},
	}
	dl := model.DocList{AppID: a.ID, CanUpload: true, CanDelete: true}
	for _, doc := range docs {
		dl.Items = append(dl.Items, vm.DocRowOf(doc))
	}
	_ = vm.Docs.Set(dl)
	onUI(t, "the dialog's buttons", func() bool {
		_, view := d.Buttons["view/doc-golden-1"]
		_, del := d.Buttons["delete/doc-golden-2"]
		return view && del && !d.msg.Visible()
	})
	assertGolden(t, w, "journey_documents.png", "申请表-盖章.pdf", "403 KB · 上传于 2026年11月22日 07:30", "176 KB · 上传于 2026年11月22日 07:37",
		"已上传 1 个", "未上传", "<上传>", "<查看>", "<删除>")
}
