package token

import (
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"fmt"
	"runtime"
)

// whyNotLoadable explains why a module file could not be loaded, from its
// header: the binding only reports that loading failed. The usual causes
// are a file that is no library at all, and a 32-bit vendor DLL in a
// 64-bit process (or the reverse).
func whyNotLoadable(path string) string {
	want := runtime.GOARCH
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		if got := elfArch(f.Machine, f.Class); got != want {
			return fmt.Sprintf("it is an ELF library for %s, this program is %s", got, want)
		}
		if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
			return "it is an ELF (Linux) library"
		}
		return "the dynamic loader refused it (a library it needs is missing, or it has no C_GetFunctionList)"
	}
	if f, err := pe.Open(path); err == nil {
		defer f.Close()
		if got := peArch(f.Machine); got != want {
			return fmt.Sprintf("it is a Windows DLL for %s, this program is %s (vendor DLLs in SysWOW64 are 32-bit)", got, want)
		}
		if runtime.GOOS != "windows" {
			return "it is a Windows DLL"
		}
		return "Windows refused to load it (a DLL it needs is missing, or it has no C_GetFunctionList)"
	}
	if f, err := macho.Open(path); err == nil {
		defer f.Close()
		if runtime.GOOS != "darwin" {
			return "it is a macOS library"
		}
		return "macOS refused to load it (wrong architecture, missing dependency or no C_GetFunctionList)"
	}
	if fat, err := macho.OpenFat(path); err == nil {
		fat.Close()
		return "it is a macOS universal library"
	}
	return "it is not a shared library"
}

func elfArch(m elf.Machine, c elf.Class) string {
	switch {
	case m == elf.EM_X86_64:
		return "amd64"
	case m == elf.EM_386:
		return "386"
	case m == elf.EM_AARCH64:
		return "arm64"
	case m == elf.EM_ARM:
		return "arm"
	case m == elf.EM_RISCV && c == elf.ELFCLASS64:
		return "riscv64"
	case m == elf.EM_LOONGARCH:
		return "loong64"
	}
	return m.String()
}

func peArch(m uint16) string {
	switch m {
	case pe.IMAGE_FILE_MACHINE_AMD64:
		return "amd64"
	case pe.IMAGE_FILE_MACHINE_I386:
		return "386"
	case pe.IMAGE_FILE_MACHINE_ARM64:
		return "arm64"
	}
	return fmt.Sprintf("machine 0x%x", m)
}
