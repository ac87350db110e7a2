package app

import (
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	user32           = windows.NewLazySystemDLL("user32.dll")
	kernel32         = windows.NewLazySystemDLL("kernel32.dll")
	getLastInputInfo = user32.NewProc("GetLastInputInfo")
	getTickCount     = kernel32.NewProc("GetTickCount")
)

// lastInputInfo is Windows' LASTINPUTINFO.
type lastInputInfo struct {
	size uint32
	time uint32 // tick count of the last input event
}

// SystemIdle is how long the Windows session has had no keyboard or mouse
// input at all (GetLastInputInfo): what counter mode's own sensor cannot
// see, such as a pointer moving inside one button, counts too.
func SystemIdle() (time.Duration, bool) {
	li := lastInputInfo{size: uint32(unsafe.Sizeof(lastInputInfo{}))}
	if r, _, _ := getLastInputInfo.Call(uintptr(unsafe.Pointer(&li))); r == 0 {
		return 0, false
	}
	now, _, _ := getTickCount.Call()
	// Both are 32-bit millisecond tick counts: the difference is right
	// across the 49.7-day wrap.
	return time.Duration(uint32(now)-li.time) * time.Millisecond, true
}
