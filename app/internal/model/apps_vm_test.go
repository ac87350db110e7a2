package model_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestApplicationsListShowsOnlyAllowedActions(t *testing.T) {
	e := apptest.NewService(t)
	vm, acc := apptest.AppsVM(t, e)
	ctx := t.Context()
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if rows := apptest.Get[[]model.AppRow](t, vm.Rows); len(rows) != 0 || !strings.Contains(apptest.Get[string](t, vm.Message), "还没有续期申请") {
		t.Fatalf("empty list: %v %q", rows, apptest.Get[string](t, vm.Message))
	}
	form := renewdtest.ValidForm(e.Org, 1)
	a, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	r, ok := vm.Row(a.ID)
	if !ok {
		t.Fatal("created application not listed")
	}
	if r.Status != "编辑中" || r.Payment != "未支付" || r.Current != 0 || r.Steps[0].Name != "填写申请" {
		t.Fatalf("row = %+v", r)
	}
	want := []renewal.Action{renewal.ActionEdit, renewal.ActionDelete, renewal.ActionUploadDocument, renewal.ActionDeleteDocument, renewal.ActionSubmit, renewal.ActionCancel}
	if !slices.Equal(r.Actions, want) || !slices.Equal(r.Actions, a.Actions) {
		t.Fatalf("editing actions = %v, want %v (service says %v)", r.Actions, want, a.Actions)
	}

	// Submit with a comment: pending review, only cancel left.
	if err := vm.Submit(ctx, a.ID, "请尽快审核"); err != nil {
		t.Fatal(err)
	}
	r, _ = vm.Row(a.ID)
	if r.Status != "待审核" || !slices.Equal(r.Actions, []renewal.Action{renewal.ActionCancel}) || r.App.Comment != "请尽快审核" {
		t.Fatalf("after submit: %s %v %q", r.Status, r.Actions, r.App.Comment)
	}
	if !r.Steps[0].Done || r.Current != 1 {
		t.Fatalf("progress after submit: %+v current %d", r.Steps, r.Current)
	}
	// Delete is not offered now: refused here, nothing sent.
	if err := vm.Delete(ctx, a.ID); !errors.Is(err, model.ErrActionNotOffered) {
		t.Fatalf("delete while pending: %v", err)
	}

	// The reviewer rejects with a reason: the clerk sees it, may edit and submit again.
	staff := e.Staff()
	if _, err := staff.Reject(ctx, a.ID, renewal.ReviewRequest{Version: r.App.Version, Reason: "营业执照复印件不清晰"}); err != nil {
		t.Fatal(err)
	}
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	r, _ = vm.Row(a.ID)
	if r.Status != "审核不通过" || r.Reason != "营业执照复印件不清晰" || r.Level != model.LevelError {
		t.Fatalf("rejected row: %+v", r)
	}
	if r.Can(renewal.ActionDelete) || !r.Can(renewal.ActionEdit) || !r.Can(renewal.ActionSubmit) {
		t.Fatalf("rejected actions %v", r.Actions)
	}

	// Someone else changes it meanwhile: the stale version is explained and the list reloaded.
	other := e.Account(nil)
	if _, err := other.Client().SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: apptest.DemoMobile}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Client().LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: apptest.DemoMobile, Code: e.SMSCode(apptest.DemoMobile)}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Client().Submit(ctx, a.ID, renewal.SubmitRequest{Version: r.App.Version, Comment: "已重新上传"}); err != nil {
		t.Fatal(err)
	}
	err = vm.Cancel(ctx, a.ID)
	if renewal.CodeOf(err) != renewal.CodeStaleVersion || !strings.Contains(apptest.Get[string](t, vm.Message), "被修改过") {
		t.Fatalf("stale cancel: %v, %q", err, apptest.Get[string](t, vm.Message))
	}
	if r2, _ := vm.Row(a.ID); r2.Status != "待审核" {
		t.Fatalf("not reloaded after stale: %s", r2.Status)
	}
	if err := vm.Cancel(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	r, _ = vm.Row(a.ID)
	if r.Status != "已取消" || len(r.Actions) != 0 || r.Current != -1 {
		t.Fatalf("cancelled row %+v", r)
	}
}

func TestApplicationsDocuments(t *testing.T) {
	e := apptest.NewService(t)
	vm, acc := apptest.AppsVM(t, e)
	ctx := t.Context()
	a, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"]})
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	var opened []string
	vm.Open = func(p string) error { opened = append(opened, p); return nil }
	path, err := vm.OpenFormPDF(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(pdf), "%PDF-") || !slices.Equal(opened, []string{path}) {
		t.Fatalf("form pdf %s (%d bytes, %v), opened %v", path, len(pdf), err, opened)
	}

	dir := t.TempDir()
	bad := map[string][]byte{
		"empty.pdf": nil,
		"note.txt":  []byte("not a scan"),
		"huge.pdf":  append([]byte("%PDF-1.7\n"), make([]byte, renewal.MaxDocumentBytes)...),
	}
	for name, data := range bad {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := vm.Upload(ctx, a.ID, p); err == nil || apptest.Get[string](t, vm.Message) == "" {
			t.Errorf("%s uploaded (%v)", name, err)
		}
	}
	if err := vm.Upload(ctx, a.ID, filepath.Join(dir, "missing.pdf")); err == nil || !strings.Contains(apptest.Get[string](t, vm.Message), "无法读取文件") {
		t.Errorf("missing file: %v %q", err, apptest.Get[string](t, vm.Message))
	}
	docs, err := vm.Documents(ctx, a.ID)
	if err != nil || len(docs) != 0 {
		t.Fatalf("refused files reached the service: %v %v", docs, err)
	}
	scan := filepath.Join(dir, "盖章申请表.pdf")
	if err := os.WriteFile(scan, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := vm.Upload(ctx, a.ID, scan); err != nil {
		t.Fatal(err)
	}
	docs, err = vm.Documents(ctx, a.ID)
	if err != nil || len(docs) != 1 || docs[0].Name != "盖章申请表.pdf" || docs[0].Kind != renewal.DocApplicationForm {
		t.Fatalf("documents after upload: %+v %v", docs, err)
	}
}
