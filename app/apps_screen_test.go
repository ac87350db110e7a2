package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestApplicationsScreenButtonsReasonAndDrop(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	vm := model.NewApplicationsVM(acc, nil, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	var edited []string
	s := newApplicationsScreen(t.Context(), vm, nil, appsNav{Edit: func(r model.AppRow) { edited = append(edited, r.ID) }})
	w := newTestWindow(t, s.Object())
	s.win = w
	ctx := t.Context()
	form := renewdtest.ValidForm(e.Org, 2)
	a, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	var keys []string
	onUI(t, "cards built", func() bool {
		keys = keys[:0]
		for k := range s.Buttons {
			keys = append(keys, strings.TrimPrefix(k, a.ID+"/"))
		}
		return len(keys) > 0
	})
	slices.Sort(keys)
	if want := []string{"cancel", "delete", "documents", "edit", "form_pdf", "submit", "upload_document"}; !slices.Equal(keys, want) {
		t.Fatalf("buttons %v, want %v", keys, want)
	}
	txt := screenText(s.Object())
	for _, want := range []string{"[编辑中]", "证书序列号 " + strings.ToUpper(e.Serials["near"]), "未支付 · ¥", "● 填写申请  →  ○ 审核  →  ○ 支付  →  ○ 金融认证  →  ○ 写入 UKey"} {
		if !strings.Contains(txt, want) {
			t.Errorf("card lacks %q: %s", want, txt)
		}
	}
	fyne.DoAndWait(func() { s.Buttons[a.ID+"/edit"].OnTapped() })
	if !slices.Equal(edited, []string{a.ID}) {
		t.Fatalf("edit went to %v", edited)
	}

	// A scan dropped on the window goes to the application last acted on.
	scan := filepath.Join(t.TempDir(), "scan.png")
	if err := os.WriteFile(scan, []byte("\x89PNG\r\n\x1a\n0000"), 0o600); err != nil {
		t.Fatal(err)
	}
	fyne.DoAndWait(func() { s.Dropped([]fyne.URI{storage.NewFileURI(scan)}) })
	apptest.Eventually(t, "dropped scan uploaded", func() bool {
		docs, err := acc.Client().ListDocuments(ctx, a.ID)
		return err == nil && len(docs.Items) == 1 && docs.Items[0].Name == "scan.png" && !apptest.Get[bool](t, vm.Busy)
	})

	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	onUI(t, "uploads listed on the card", func() bool { return strings.Contains(strings.Join(texts(s.Object()), "|"), "已上传：scan.png") })

	// Rejected with a reason: the reason is shown, delete is gone.
	if err := vm.Submit(ctx, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	r, _ := vm.Row(a.ID)
	if _, err := e.Staff().Reject(ctx, a.ID, renewal.ReviewRequest{Version: r.App.Version, Reason: "法人身份证号与营业执照不符"}); err != nil {
		t.Fatal(err)
	}
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	onUI(t, "rejection shown", func() bool {
		return strings.Contains(strings.Join(texts(s.Object()), "|"), "审核意见：法人身份证号与营业执照不符")
	})
	fyne.DoAndWait(func() {
		if _, ok := s.Buttons[a.ID+"/delete"]; ok {
			t.Error("delete offered on a rejected application")
		}
		if _, ok := s.Buttons[a.ID+"/edit"]; !ok {
			t.Error("edit not offered on a rejected application")
		}
	})
}
