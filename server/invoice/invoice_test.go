package invoice_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
)

const base64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

var at = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

func request() invoice.Request {
	return invoice.Request{ApplicationID: "a1b2", Title: "深圳市测试科技有限公司", TaxID: "91440300MA5000000T",
		Email: "finance@example.cn", Phone: "13800138000", AmountFen: 300_00, Years: 1, CertSerial: "1A2B"}
}

func TestSplitAddsUp(t *testing.T) {
	for _, c := range []struct{ total, net, tax int64 }{
		{300_00, 283_02, 16_98}, // 300 / 1.06 = 283.0188…
		{106, 100, 6},
		{1, 1, 0},
		{600_00, 566_04, 33_96},
	} {
		net, tax := invoice.Split(c.total)
		if net != c.net || tax != c.tax || net+tax != c.total {
			t.Errorf("Split(%d) = %d, %d; want %d, %d", c.total, net, tax, c.net, c.tax)
		}
	}
}

func TestDevIssuerMakesAReadablePDF(t *testing.T) {
	d := &invoice.DevIssuer{Seller: invoice.Seller{Name: "测试数字认证有限公司", TaxID: "91440300MA5000001R"}, Now: func() time.Time { return at }}
	got, err := d.Issue(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9]{20}$`).MatchString(got.Number) || !got.IssuedAt.Equal(at) {
		t.Errorf("number %q at %v", got.Number, got.IssuedAt)
	}
	if !strings.HasPrefix(string(got.PDF), "%PDF-") || len(got.PDF) > invoice.MaxPDFBytes {
		t.Fatalf("not a PDF of at most %d bytes: %d bytes", invoice.MaxPDFBytes, len(got.PDF))
	}
	again, _ := d.Issue(context.Background(), request())
	if again.Number == got.Number {
		t.Errorf("two invoices share number %s", got.Number)
	}
	bin := testenv.LookPath(t, "pdftotext")
	testenv.File(t, "/usr/share/poppler/cMap/Adobe-GB1/UniGB-UCS2-H")
	file := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(file, got.PDF, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	text := strings.ReplaceAll(string(out), " ", "")
	for _, want := range []string{"电子发票（普通发票）", got.Number, "深圳市测试科技有限公司", "91440300MA5000000T",
		"测试数字认证有限公司", "¥283.02", "¥16.98", "¥300.00", "6%", "2026年11月23日"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF lacks %q:\n%s", want, out)
		}
	}
}

func TestDevIssuerRefusesBadRequests(t *testing.T) {
	d := &invoice.DevIssuer{}
	for name, mod := range map[string]func(*invoice.Request){
		"no application": func(r *invoice.Request) { r.ApplicationID = "" },
		"no title":       func(r *invoice.Request) { r.Title = " " },
		"no tax id":      func(r *invoice.Request) { r.TaxID = "" },
		"zero amount":    func(r *invoice.Request) { r.AmountFen = 0 },
		"negative":       func(r *invoice.Request) { r.AmountFen = -1 },
		"too much":       func(r *invoice.Request) { r.AmountFen = invoice.MaxAmountFen + 1 },
	} {
		r := request()
		mod(&r)
		if _, err := d.Issue(context.Background(), r); !errors.Is(err, invoice.ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Issue(ctx, request()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestLinks(t *testing.T) {
	if _, err := invoice.NewLinks([]byte("short")); err == nil {
		t.Error("a 5-byte key was accepted")
	}
	l, err := invoice.NewLinks([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	exp := at.Add(time.Hour)
	tok := l.Token("app1", "26327000000012345678", exp)
	if err := l.Check("app1", "26327000000012345678", tok, at); err != nil {
		t.Fatalf("genuine link: %v", err)
	}
	if err := l.Check("app1", "26327000000012345678", tok, exp); !errors.Is(err, invoice.ErrLinkExpired) {
		t.Errorf("at its expiry: %v", err)
	}
	other, _ := invoice.NewLinks([]byte("another key of 20 b."))
	exp2 := strings.Split(tok, ".")[0]
	for name, bad := range map[string]string{
		"other application": "", "empty": "", "no dot": "12345", "not a number": "x." + strings.Split(tok, ".")[1],
		"stretched expiry": "9999999999." + strings.Split(tok, ".")[1],
		"other key":        other.Token("app1", "26327000000012345678", exp),
		"bad base64":       exp2 + ".!!!",
		"too long":         exp2 + "." + strings.Repeat("A", invoice.MaxTokenLen),
		"negative":         "-5." + strings.Split(tok, ".")[1],
	} {
		app := "app1"
		if name == "other application" {
			app, bad = "app2", tok
		}
		if err := l.Check(app, "26327000000012345678", bad, at); !errors.Is(err, invoice.ErrLinkInvalid) {
			t.Errorf("%s: %v, want ErrLinkInvalid", name, err)
		}
	}
	// The MAC's last character carries 4 bits and 2 unused ones: another
	// spelling of the same bytes is refused too (one token, one spelling).
	last := strings.IndexByte(base64URL, tok[len(tok)-1])
	respelled := tok[:len(tok)-1] + string(base64URL[last^1])
	if err := l.Check("app1", "26327000000012345678", respelled, at); !errors.Is(err, invoice.ErrLinkInvalid) {
		t.Errorf("respelled token: %v", err)
	}
	if err := l.Check("app1", "26327000000012345679", tok, at); !errors.Is(err, invoice.ErrLinkInvalid) {
		t.Errorf("other invoice number: %v", err)
	}
}

func TestOutbox(t *testing.T) {
	o := invoice.NewOutbox(func() time.Time { return at })
	for _, bad := range []invoice.Mail{
		{To: "not an address", Subject: "s"},
		{To: "张三 <a@example.cn>", Subject: "s"},
		{To: "a@example.cn", Subject: ""},
		{To: "a@example.cn", Subject: "two\r\nBcc: x@example.cn"},
		{To: "a@example.cn", Subject: strings.Repeat("长", invoice.MaxSubjectRunes+1)},
		{To: "a@example.cn", Subject: "s", Body: strings.Repeat("x", invoice.MaxBodyBytes+1)},
	} {
		if err := o.Send(context.Background(), bad); !errors.Is(err, invoice.ErrMailRejected) {
			t.Errorf("%+.40v: %v, want rejected", bad, err)
		}
	}
	if err := o.Send(context.Background(), invoice.Mail{To: "a@example.cn", Subject: "发票", Body: "链接"}); err != nil {
		t.Fatal(err)
	}
	if got := o.Mails("a@example.cn"); len(got) != 1 || got[0].Body != "链接" || !got[0].At.Equal(at) {
		t.Errorf("outbox: %+v", got)
	}
	if got := o.Mails("b@example.cn"); len(got) != 0 {
		t.Errorf("outbox for another: %+v", got)
	}
}
