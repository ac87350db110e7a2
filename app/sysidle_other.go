//go:build !windows

package app

import "time"

// SystemIdle is how long the desktop session has had no input at all. Only
// Windows answers (GetLastInputInfo); elsewhere counter mode relies on its
// own sensor (idle.go).
func SystemIdle() (time.Duration, bool) { return 0, false }
