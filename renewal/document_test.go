package renewal

import "testing"

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
