package app

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/assets"
)

var placeholderRE = regexp.MustCompile(`\{\{\.[A-Za-z]+\}\}`)

// TestTranslationsComplete checks that every key the code uses is in both
// files with the same placeholders, and that plural keys have English forms.
func TestTranslationsComplete(t *testing.T) {
	files, err := assets.TranslationFiles()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["zh-CN.json"]; ok {
		t.Error("zh-CN.json would not be picked up with Fyne's own zh_Hans strings: use zh_Hans.json")
	}
	parse := func(name string) map[string]any {
		m := map[string]any{}
		if err := json.Unmarshal(files[name], &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return m
	}
	zh, en := parse("zh_Hans.json"), parse("en.json")
	text := func(v any) string {
		if m, ok := v.(map[string]any); ok {
			s, _ := m["other"].(string)
			return s
		}
		s, _ := v.(string)
		return s
	}
	// The keys used in the code, with their Chinese fallbacks.
	used := map[string]string{}
	call := regexp.MustCompile(`lang\.XN?\(\s*"([^"]+)",\s*"([^"]*)"`)
	// The screens here and the view-models and widgets under internal/.
	err = filepath.WalkDir(".", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = m[2]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 50 {
		t.Fatalf("found only %d translated strings in the code; the scan is broken", len(used))
	}
	keys := make([]string, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		z, ok := zh[k]
		if !ok {
			t.Errorf("zh_Hans.json lacks %q", k)
			continue
		}
		e, ok := en[k]
		if !ok {
			t.Errorf("en.json lacks %q", k)
			continue
		}
		if text(z) != used[k] {
			t.Errorf("%q: zh_Hans.json says %q, the code's fallback %q", k, text(z), used[k])
		}
		if a, b := placeholderRE.FindAllString(text(z), -1), placeholderRE.FindAllString(text(e), -1); strings.Join(a, "") != strings.Join(b, "") {
			t.Errorf("%q: placeholders differ: zh %v, en %v", k, a, b)
		}
		_, zhPlural := z.(map[string]any)
		m, enPlural := e.(map[string]any)
		if zhPlural != enPlural {
			t.Errorf("%q: plural in one file and not the other (lang.XN needs plural forms, lang.X a string)", k)
		}
		if enPlural && (m["one"] == nil || m["other"] == nil) {
			t.Errorf("%q: English plural needs one and other", k)
		}
	}
	for k := range zh {
		if _, ok := used[k]; !ok {
			t.Errorf("zh_Hans.json has %q, which the code does not use", k)
		}
	}
	for k := range en {
		if _, ok := used[k]; !ok {
			t.Errorf("en.json has %q, which the code does not use", k)
		}
	}
}
