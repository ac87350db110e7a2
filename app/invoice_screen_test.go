package app

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
)

func TestInvoiceScreenRequestsAndOpens(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	a := e.ApprovedApp(acc)
	e.MarkPaid(a.ID)
	vm := model.NewInvoiceVM(acc)
	var mu sync.Mutex
	var opened []string
	vm.OpenURL = func(u *url.URL) error { mu.Lock(); opened = append(opened, u.String()); mu.Unlock(); return nil }
	s := newInvoiceScreen(t.Context(), vm)
	newTestWindow(t, s.Object())
	s.Load(a.ID)
	onUI(t, "form filled from the application", func() bool { return s.Title.Text == e.Org.Name && s.form.Visible() && !s.issued.Visible() })
	s.Email.SetText("")
	test.Type(s.Email, "billing@")
	test.Tap(s.Request)
	onUI(t, "the e-mail's message next to it", func() bool { m, _ := vm.EmailMsg.Get(); return m != "" })
	test.Type(s.Email, "example.cn")
	test.Tap(s.Request)
	onUI(t, "issued", func() bool { return s.issued.Visible() && !s.form.Visible() })
	if txt := screenText(s.Object()); !strings.Contains(txt, "发票号码") || !strings.Contains(txt, "/invoice.pdf?token=") {
		t.Errorf("screen: %s", txt)
	}
	// Refresh reads it again: still issued, a fresh link.
	first, _ := vm.Link.Get()
	e.Clock.Advance(10 * time.Minute) // the link's expiry moves with the clock
	test.Tap(s.Refresh)
	onUI(t, "a fresh link", func() bool { l, _ := vm.Link.Get(); return l != "" && l != first && s.issued.Visible() })
	onUI(t, "no second request offered", func() bool { return !s.form.Visible() && !s.Request.Disabled() })
	test.Tap(s.Open)
	mu.Lock()
	defer mu.Unlock()
	if link, _ := vm.Link.Get(); len(opened) != 1 || opened[0] != link {
		t.Errorf("opened %v, want %s", opened, link)
	}
}
