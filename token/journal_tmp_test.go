package token

import (
	"testing"

	"github.com/ukeyrenew/ukeyrenew/internal/atomicfile"
)

// Remove sweeps the temporary files of a writer killed midway by
// journalTmpGlob: it must be the pattern atomicfile names them by.
func TestJournalTmpGlobIsAtomicfiles(t *testing.T) {
	if journalTmpGlob != atomicfile.TempGlob {
		t.Fatalf("journalTmpGlob %q, atomicfile.TempGlob %q", journalTmpGlob, atomicfile.TempGlob)
	}
}
