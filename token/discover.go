package token

import (
	"os"
	"path/filepath"
	"runtime"
)

// KnownModule is a PKCS#11 module file that is commonly installed.
type KnownModule struct {
	Vendor string `json:"vendor"`
	Path   string `json:"path"` // absolute, or a bare DLL name looked up in the Windows system folders
}

// knownModules lists module files per GOOS. The Chinese vendors' Windows
// DLLs are installed into System32 (64-bit) and SysWOW64 (32-bit) by their
// driver packages; many are 32-bit only, which a 64-bit process cannot
// load (OpenModule then says the library is not loadable). Longmai's
// mtoken_gm3000.dll speaks SKF (GM/T 0016), not PKCS#11, and is not listed.
var knownModules = map[string][]KnownModule{
	"linux": {
		{"SoftHSM2", "/usr/lib/softhsm/libsofthsm2.so"},
		{"SoftHSM2", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"},
		{"SoftHSM2", "/usr/lib64/pkcs11/libsofthsm2.so"},
		{"OpenSC", "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"},
		{"OpenSC", "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so"},
		{"OpenSC", "/usr/lib64/opensc-pkcs11.so"},
		{"OpenSC", "/usr/lib/opensc-pkcs11.so"},
		{"Feitian ePass2003", "/usr/lib/libeps2003csp11.so"},
		{"Feitian ePass2003", "/usr/lib64/libeps2003csp11.so"},
	},
	"darwin": {
		{"SoftHSM2", "/opt/homebrew/lib/softhsm/libsofthsm2.so"},
		{"SoftHSM2", "/usr/local/lib/softhsm/libsofthsm2.so"},
		{"OpenSC", "/Library/OpenSC/lib/opensc-pkcs11.so"},
		{"Feitian ePass2003", "/usr/local/lib/libeps2003csp11.dylib"},
	},
	"windows": {
		{"Feitian ePass2003", "eps2003csp11.dll"},
		{"Feitian ePass2003", "eps2003csp11v2.dll"},
		{"Feitian", "ShuttleCsp11_3003.dll"},
		{"Feitian / ACS", "ngp11v211.dll"},
		{"Watchdata", "WDPKCS.dll"},
		{"Longmai mToken", "mToken.dll"},
		{"SafeNet eToken", "eTPKCS11.dll"},
		{"OpenSC", `C:\Program Files\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll`},
		{"SoftHSM2", `C:\SoftHSM2\lib\softhsm2-x64.dll`},
	},
}

// WellKnownModules lists the module files known for goos ("linux",
// "windows", "darwin"), whether present or not.
func WellKnownModules(goos string) []KnownModule {
	return append([]KnownModule(nil), knownModules[goos]...)
}

// DiscoverModules returns the well-known modules of the running OS that
// exist on this machine, each file once. Bare Windows DLL names are looked
// for in %SystemRoot%\System32 and then SysWOW64.
func DiscoverModules() []KnownModule {
	return discover(runtime.GOOS, os.Getenv("SystemRoot"), fileExists)
}

func discover(goos, systemRoot string, exists func(string) bool) []KnownModule {
	var out []KnownModule
	seen := map[string]bool{}
	for _, k := range knownModules[goos] {
		cands := []string{k.Path}
		if goos == "windows" && filepath.Base(k.Path) == k.Path {
			if systemRoot == "" {
				systemRoot = `C:\Windows`
			}
			cands = []string{systemRoot + `\System32\` + k.Path, systemRoot + `\SysWOW64\` + k.Path}
		}
		for _, p := range cands {
			real := p
			if r, err := filepath.EvalSymlinks(p); err == nil {
				real = r
			}
			if !seen[real] && exists(p) {
				seen[real] = true
				out = append(out, KnownModule{Vendor: k.Vendor, Path: p})
			}
		}
	}
	return out
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
