//go:build linux

package workstation_test

import (
	"testing"

	"github.com/ukeyrenew/ukeyrenew/internal/swtpmtest"
)

type swtpm = swtpmtest.TPM

func startSWTPM(t testing.TB) *swtpm { return swtpmtest.Start(t) }

func startSWTPMState(t testing.TB, state string) *swtpm { return swtpmtest.StartState(t, state) }
