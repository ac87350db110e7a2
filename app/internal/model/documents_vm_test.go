package model

import (
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestDocumentSizeAndNames(t *testing.T) {
	for n, want := range map[int64]string{0: "0 KB", 1: "1 KB", 1024: "1 KB", 1025: "2 KB", 999 << 10: "999 KB", 1000 << 10: "1,000 KB", renewal.MaxDocumentBytes: "10,240 KB"} {
		if got := sizeKB(n); got != want {
			t.Errorf("sizeKB(%d) = %q, want %q", n, got, want)
		}
	}
	long := strings.Repeat("扫", 250) + ".pdf"
	for path, want := range map[string]string{
		"/home/张三/扫描/申请表.pdf":  "申请表.pdf",
		"/tmp/a\tb\nc.png":     "a b c.png",
		"/tmp/" + long:         strings.Repeat("扫", 200),
		`C:\Users\张三\身份证.jpg`:  `C__Users_张三_身份证.jpg`, // one name on Linux, made a file name everywhere
		`/tmp/营业执照:扫描"1"?.pdf`: `营业执照_扫描_1__.pdf`,
		"/tmp/扫描件. . ":         "扫描件",
		"/tmp/..":              "资料",
	} {
		got := docName(path)
		if got != want {
			t.Errorf("docName(%q) = %q, want %q", path, got, want)
		}
		if err := (&renewal.UploadDocumentRequest{Kind: renewal.DocOther, Name: got}).Validate(); err != nil {
			t.Errorf("docName(%q) = %q, which the service refuses: %v", path, got, err)
		}
	}
}
