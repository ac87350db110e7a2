package renewal

import (
	"strings"
	"testing"
)

func TestSniffDocument(t *testing.T) {
	for head, want := range map[string]string{"%PDF-1.7\n": ContentPDF, "\xff\xd8\xff\xe0": ContentJPEG, "\x89PNG\r\n\x1a\n": ContentPNG} {
		if got, err := SniffDocument([]byte(head)); err != nil || got != want {
			t.Errorf("SniffDocument(%q) = %q, %v", head, got, err)
		}
	}
	for _, head := range []string{"", "GIF89a", "<html>", "PK\x03\x04"} {
		if _, err := SniffDocument([]byte(head)); CodeOf(err) != CodeDocumentType {
			t.Errorf("SniffDocument(%q) = %v", head, err)
		}
	}
}

// A document's name is a file name on every system: no path, none of the
// characters Windows refuses, no trailing dot or space; the Chinese text
// says which character and what to do.
func TestValidateFileName(t *testing.T) {
	for _, ok := range []string{"营业执照.pdf", "申请表 (盖章).jpg", "a.b.c.png", "扫描件"} {
		if err := ValidateFileName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for bad, zh := range map[string]string{
		"../../etc/passwd":      "第3个字符是 /",
		`a"; filename=evil.exe`: `第2个字符是 "`,
		`C:\Windows\x.pdf`:      "第2个字符是 :",
		`..\x.pdf`:              `第3个字符是 \`,
		"营业执照?.pdf":             "第5个字符是 ?",
		"a|b<c>d*e":             "第2个字符是 |",
		"..":                    "只有点号",
		"扫描件.":                  "以点号或空格结尾",
		"x\u202egpj.exe":        "U+202E",
		"":                      "",
	} {
		err := (&UploadDocumentRequest{Kind: DocOther, Name: bad}).Validate()
		fe := AsError(err).FieldError("name")
		if fe == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if !strings.Contains(fe.Localized("zh"), zh) {
			t.Errorf("%q: %q / %q, want it to say %q", bad, fe.MessageZH, fe.Message, zh)
		}
	}
	// Spaces around a name are trimmed, not refused.
	r := UploadDocumentRequest{Kind: DocOther, Name: " 扫描件 "}
	if err := r.Validate(); err != nil || r.Name != "扫描件" {
		t.Errorf("%q, %v", r.Name, err)
	}
}
