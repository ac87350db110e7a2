package token

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/miekg/pkcs11"
)

// A module path is loaded and C_Initialize'd once per process: SoftHSM2 and
// most vendor modules refuse a second C_Initialize, and SoftHSM2 reads its
// configuration only there. The registry shares one library per cleaned
// path, counts its users (open Module values and open Tokens) and calls
// C_Finalize when the last one closes, so the next OpenModule starts fresh.
var registry = struct {
	sync.Mutex
	libs map[string]*library
}{libs: map[string]*library{}}

// library is one loaded and initialised module, shared by all its users.
type library struct {
	path   string
	ctx    *pkcs11.Ctx
	refs   int // open Modules and Tokens, under registry's lock
	tokens int // open Tokens, under registry's lock

	// mu serialises calls that are not per session (slot enumeration,
	// token info, C_Finalize).
	mu sync.Mutex
}

// Module is a user's handle on a loaded PKCS#11 module. Close it when done;
// the module is finalised when its last Module and Token are closed.
type Module struct {
	lib    *library
	closed bool
	mu     sync.Mutex
}

// ModuleInfo is what C_GetInfo says about a module.
type ModuleInfo struct {
	Path           string `json:"path"`
	Manufacturer   string `json:"manufacturer"`
	Description    string `json:"description"`
	LibraryVersion string `json:"library_version"`
	CryptokiVer    string `json:"cryptoki_version"`
}

// OpenModule loads and initialises the PKCS#11 module at path, or shares the
// context already loaded for that path in this process. The error names the
// file and the reason when the file is missing, is not a loadable library
// (wrong architecture, missing dependency) or fails C_Initialize.
func OpenModule(path string) (*Module, error) {
	if path == "" {
		return nil, errors.New("open module: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open module %s: %w", path, err)
	}
	key := filepath.Clean(abs)
	registry.Lock()
	defer registry.Unlock()
	if lib, ok := registry.libs[key]; ok {
		lib.refs++
		return &Module{lib: lib}, nil
	}
	st, err := os.Stat(key)
	if err != nil {
		return nil, fmt.Errorf("open module %s: %w", key, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("open module %s: is a directory", key)
	}
	ctx := pkcs11.New(key)
	if ctx == nil {
		return nil, fmt.Errorf("open module %s: not a loadable PKCS#11 library: %s", key, whyNotLoadable(key))
	}
	if err := ctx.Initialize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, fmt.Errorf("open module %s: %w", key, p11err("initialize", err))
	}
	lib := &library{path: key, ctx: ctx, refs: 1}
	registry.libs[key] = lib
	return &Module{lib: lib}, nil
}

// acquireToken adds a Token as a user of lib.
func (lib *library) acquireToken() {
	registry.Lock()
	lib.refs++
	lib.tokens++
	registry.Unlock()
}

// release drops a user (a Token if token is true) and finalises the module
// after the last one.
func (lib *library) release(token bool) error {
	// Lock order everywhere: lib.mu, then registry.
	lib.mu.Lock()
	defer lib.mu.Unlock()
	registry.Lock()
	defer registry.Unlock()
	lib.refs--
	if token {
		lib.tokens--
	}
	if lib.refs > 0 {
		return nil
	}
	delete(registry.libs, lib.path)
	err := lib.ctx.Finalize()
	lib.ctx.Destroy()
	if err != nil {
		return fmt.Errorf("close module %s: %w", lib.path, p11err("finalize", err))
	}
	return nil
}

// Path is the absolute path of the module file.
func (m *Module) Path() string { return m.lib.path }

// Close releases this handle. It is safe to call more than once.
func (m *Module) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	return m.lib.release(false)
}

func (m *Module) check() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("module %s: %w", m.lib.path, ErrClosed)
	}
	return nil
}

// Info returns the module's C_GetInfo.
func (m *Module) Info(ctx context.Context) (ModuleInfo, error) {
	if err := m.check(); err != nil {
		return ModuleInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return ModuleInfo{}, err
	}
	m.lib.mu.Lock()
	info, err := m.lib.ctx.GetInfo()
	m.lib.mu.Unlock()
	if err != nil {
		return ModuleInfo{}, fmt.Errorf("module %s: %w", m.lib.path, p11err("get info", err))
	}
	return ModuleInfo{
		Path:           m.lib.path,
		Manufacturer:   decodeText([]byte(info.ManufacturerID)).Text,
		Description:    decodeText([]byte(info.LibraryDescription)).Text,
		LibraryVersion: fmt.Sprintf("%d.%d", info.LibraryVersion.Major, info.LibraryVersion.Minor),
		CryptokiVer:    fmt.Sprintf("%d.%d", info.CryptokiVersion.Major, info.CryptokiVersion.Minor),
	}, nil
}

// TokenInfo describes an initialised token. Serial identifies it: slot IDs
// change on re-insertion and labels are not unique.
type TokenInfo struct {
	Serial        string   `json:"serial"`
	Label         string   `json:"label"`
	LabelEncoding string   `json:"label_encoding"` // "utf-8", "gbk" or "hex" (see decodeText)
	Manufacturer  string   `json:"manufacturer"`
	Model         string   `json:"model"`
	Slot          uint     `json:"slot"`
	Module        string   `json:"module"`
	PIN           PINState `json:"pin"`
	LoginRequired bool     `json:"login_required"`
	ReadOnly      bool     `json:"read_only"`
	Removable     bool     `json:"removable"`
}

// Tokens lists the initialised tokens present in the module's slots, sorted
// by serial. Slots without a token or with an uninitialised one are skipped.
func (m *Module) Tokens(ctx context.Context) ([]TokenInfo, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.lib.mu.Lock()
	defer m.lib.mu.Unlock()
	infos, _, err := m.lib.tokensLocked()
	return infos, err
}

// tokensLocked lists the initialised tokens; unreadable counts slots whose
// C_GetTokenInfo failed (SoftHSM2 fails it transiently, 0x5, while another
// process logs in: 2–5 % of polls under a pkcs11-tool login loop).
func (lib *library) tokensLocked() (infos []TokenInfo, unreadable int, err error) {
	slots, err := lib.ctx.GetSlotList(true)
	if err != nil {
		return nil, 0, fmt.Errorf("module %s: %w", lib.path, p11err("get slot list", err))
	}
	out := make([]TokenInfo, 0, len(slots))
	for _, slot := range slots {
		ti, err := lib.ctx.GetTokenInfo(slot)
		if err != nil {
			// A token pulled out between the two calls, or busy in another
			// process: it is not listed now, the next poll sees it again.
			unreadable++
			continue
		}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		info := tokenInfo(lib.path, slot, ti)
		if info.Serial == "" {
			// Seen on SoftHSM2 while another process writes the token's
			// state: initialised, but no serial yet. Busy, not absent.
			unreadable++
			continue
		}
		if si, err := lib.ctx.GetSlotInfo(slot); err == nil {
			info.Removable = si.Flags&pkcs11.CKF_REMOVABLE_DEVICE != 0
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Serial < out[j].Serial })
	return out, unreadable, nil
}

func tokenInfo(path string, slot uint, ti pkcs11.TokenInfo) TokenInfo {
	label := decodeText([]byte(ti.Label))
	return TokenInfo{
		Serial:        decodeText([]byte(ti.SerialNumber)).Text,
		Label:         label.Text,
		LabelEncoding: label.Encoding,
		Manufacturer:  decodeText([]byte(ti.ManufacturerID)).Text,
		Model:         decodeText([]byte(ti.Model)).Text,
		Slot:          slot,
		Module:        path,
		PIN:           pinStateFromFlags(ti.Flags),
		LoginRequired: ti.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0,
		ReadOnly:      ti.Flags&pkcs11.CKF_WRITE_PROTECTED != 0,
	}
}
