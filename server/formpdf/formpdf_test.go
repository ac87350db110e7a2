package formpdf_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
	"github.com/ukeyrenew/ukeyrenew/server/formpdf"
)

func sample() formpdf.Form {
	return formpdf.Form{
		Title:    "数字证书续期申请表",
		Subtitle: "申请编号 0123abcd  证书序列号 4CA44B32",
		Sections: []formpdf.Section{
			{Title: "机构信息", Lines: []formpdf.Line{
				{Label: "机构名称", Value: "深圳市测试科技有限公司"},
				{Label: "统一社会信用代码", Value: "91440300MA5000000T"},
			}},
			{Title: "取锁方式", Lines: []formpdf.Line{
				{Label: "邮寄地址", Value: strings.Repeat("广东省深圳市南山区科技园南区高新南七道", 4) + " Room 1208"},
				{Label: "空值", Value: ""},
			}},
		},
		Signatures: []string{"单位盖章：", "法定代表人签字：", "日期：    年    月    日"},
		Footer:     "UKey Renew 😀",
	}
}

// The cross-reference table points at every object exactly.
func TestStructure(t *testing.T) {
	pdf := formpdf.Render(sample())
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(pdf, []byte("%%EOF\n")) {
		t.Fatal("not a PDF")
	}
	m := regexp.MustCompile(`startxref\n(\d+)\n`).FindSubmatch(pdf)
	xref, _ := strconv.Atoi(string(m[1]))
	if !bytes.HasPrefix(pdf[xref:], []byte("xref\n")) {
		t.Fatal("startxref does not point at the xref table")
	}
	offs := regexp.MustCompile(`(\d{10}) 00000 n `).FindAllSubmatch(pdf[xref:], -1)
	if len(offs) != 9 {
		t.Fatalf("%d objects in xref", len(offs))
	}
	for i, o := range offs {
		off, _ := strconv.Atoi(string(o[1]))
		if want := strconv.Itoa(i+1) + " 0 obj\n"; !bytes.HasPrefix(pdf[off:], []byte(want)) {
			t.Fatalf("object %d not at offset %d", i+1, off)
		}
	}
	for _, l := range regexp.MustCompile(`/Length (\d+) >>\nstream\n`).FindAllSubmatchIndex(pdf, -1) {
		n, _ := strconv.Atoi(string(pdf[l[2]:l[3]]))
		if !bytes.HasPrefix(pdf[l[1]+n:], []byte("\nendstream")) {
			t.Fatal("a stream length is wrong")
		}
	}
}

// An independent reader (poppler's pdftotext) reads the Chinese back.
func TestPdftotextReadsTheForm(t *testing.T) {
	bin := testenv.LookPath(t, "pdftotext")
	// poppler reads STSong-Light text through Adobe's CMaps (Debian poppler-data).
	testenv.File(t, "/usr/share/poppler/cMap/Adobe-GB1/UniGB-UCS2-H")
	file := filepath.Join(t.TempDir(), "form.pdf")
	if err := os.WriteFile(file, formpdf.Render(sample()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"数字证书续期申请表", "深圳市测试科技有限公司", "91440300MA5000000T", "单位盖章", "Room 1208", "机构信息"} {
		if !strings.Contains(strings.ReplaceAll(text, " ", ""), strings.ReplaceAll(want, " ", "")) {
			t.Errorf("pdftotext does not find %q in:\n%s", want, text)
		}
	}
}
