package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/ukeyrenew/ukeyrenew/internal/atomicfile"
)

// Limits of the sealed file.
const (
	MaxSealedFile = 16 << 10 // bytes; a real file is about 1 KiB
	MaxAuth       = 32       // bytes of a TPM authorization value (SHA-256 digest size)
	sealedKeySize = 32       // AES-256; the TPM seals at most 128 bytes
	sealedVersion = 1
)

// sealedFile is the file on disk. The AES key is sealed by the TPM (Public,
// Private: a keyed-hash object under the storage primary key whose name was
// SRKName); the record is encrypted under it with AES-GCM, with the primary
// key's name in the additional data.
type sealedFile struct {
	V          int    `json:"v"`
	SRKName    []byte `json:"srk_name"`
	Public     []byte `json:"public"`
	Private    []byte `json:"private"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

type sealedBackend struct {
	path      string
	open      func() (transport.TPMCloser, error)
	ownerAuth []byte // owner hierarchy authorization, usually empty
	keyAuth   []byte // authorization of the sealed object
	g         *guard
}

// srk is the owner hierarchy's ECC P-256 storage primary key (the TCG
// reference template). The TPM derives it from the owner seed, so it is
// the same on every call until the TPM is cleared, and differs on every
// other TPM: its name identifies "this TPM, this owner".
type srk struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	pub    tpm2.TPMTPublic
}

func createSRK(t transport.TPM, ownerAuth []byte) (*srk, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(ownerAuth)},
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(t)
	if err != nil {
		if isAuthError(err) {
			return nil, fmt.Errorf("%w: owner hierarchy: %w", ErrTPMAuth, err)
		}
		return nil, fmt.Errorf("session: tpm create primary: %w", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		flush(t, rsp.ObjectHandle)
		return nil, fmt.Errorf("session: tpm primary public area: %w", err)
	}
	return &srk{rsp.ObjectHandle, rsp.Name, *pub}, nil
}

func isAuthError(err error) bool {
	return errors.Is(err, tpm2.TPMRCBadAuth) || errors.Is(err, tpm2.TPMRCAuthFail)
}

func flush(t transport.TPM, h tpm2.TPMHandle) {
	// A failed flush leaves a transient object until the connection closes
	// (resource manager) or the TPM restarts: nothing to tell the user.
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(t)
}

// withTPM opens the TPM, makes the storage primary key and runs fn, all
// under the backend's timeout. Each call has its own connection, so an
// abandoned call never shares one with the next.
func (s *sealedBackend) withTPM(ctx context.Context, fn func(t transport.TPM, k *srk) error) error {
	return s.g.do(ctx, func() error {
		t, err := s.open()
		if err != nil {
			if errors.Is(err, ErrNoTPM) {
				return err
			}
			return fmt.Errorf("%w: %w", ErrNoTPM, err)
		}
		defer t.Close()
		k, err := createSRK(t, s.ownerAuth)
		if err != nil {
			return err
		}
		defer flush(t, k.handle)
		return fn(t, k)
	})
}

func (s *sealedBackend) probe(ctx context.Context) error {
	return s.withTPM(ctx, func(t transport.TPM, _ *srk) error {
		if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(t); err != nil {
			return fmt.Errorf("%w: get random: %w", ErrNoTPM, err)
		}
		return nil
	})
}

func aad(srkName []byte) []byte {
	return append([]byte("ukeyrenew-session-v1\x00"), srkName...)
}

func (s *sealedBackend) save(ctx context.Context, data []byte) error {
	var f sealedFile
	err := s.withTPM(ctx, func(t transport.TPM, k *srk) error {
		key := make([]byte, sealedKeySize)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("session: random key: %w", err)
		}
		rsp, err := tpm2.Create{
			ParentHandle: tpm2.AuthHandle{
				Handle: k.handle,
				Name:   k.name,
				// The key crosses the bus encrypted to the primary key.
				Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16,
					tpm2.AESEncryption(128, tpm2.EncryptIn),
					tpm2.Salted(k.handle, k.pub)),
			},
			InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
				UserAuth: tpm2.TPM2BAuth{Buffer: s.keyAuth},
				Data:     tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: key}),
			}},
			InPublic: tpm2.New2B(sealTemplate()),
		}.Execute(t)
		if err != nil {
			return fmt.Errorf("session: tpm seal: %w", err)
		}
		nonce, ct, err := gcmSeal(key, data, aad(k.name.Buffer))
		if err != nil {
			return err
		}
		f = sealedFile{sealedVersion, k.name.Buffer, tpm2.Marshal(rsp.OutPublic), tpm2.Marshal(rsp.OutPrivate), nonce, ct}
		return nil
	})
	if err != nil {
		return err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("session: encode sealed file: %w", err)
	}
	return writeFileAtomic(s.path, b)
}

// sealTemplate: a sealed data object that never leaves this TPM and whose
// wrong authorization values do not count towards dictionary-attack lockout
// (a lockout would hit every other user of the TPM, for a session that is
// cheap to recreate by signing in again).
func sealTemplate() tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:     true,
			FixedParent:  true,
			UserWithAuth: true,
			NoDA:         true,
		},
	}
}

func (s *sealedBackend) load(ctx context.Context) ([]byte, error) {
	f, err := readSealedFile(s.path)
	if err != nil {
		return nil, err
	}
	var plain []byte
	err = s.withTPM(ctx, func(t transport.TPM, k *srk) error {
		if string(k.name.Buffer) != string(f.SRKName) {
			return ErrSealedElsewhere
		}
		pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](f.Public)
		if err != nil {
			return fmt.Errorf("%w: sealed public area: %w", ErrCorrupt, err)
		}
		priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](f.Private)
		if err != nil {
			return fmt.Errorf("%w: sealed private area: %w", ErrCorrupt, err)
		}
		lrsp, err := tpm2.Load{
			ParentHandle: tpm2.AuthHandle{Handle: k.handle, Name: k.name, Auth: tpm2.PasswordAuth(nil)},
			InPrivate:    *priv,
			InPublic:     *pub,
		}.Execute(t)
		if err != nil {
			return fmt.Errorf("%w: tpm load: %w", ErrCorrupt, err)
		}
		defer flush(t, lrsp.ObjectHandle)
		ursp, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{
			Handle: lrsp.ObjectHandle,
			Name:   lrsp.Name,
			// The key comes back encrypted to the primary key.
			Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Auth(s.keyAuth),
				tpm2.AESEncryption(128, tpm2.EncryptOut),
				tpm2.Salted(k.handle, k.pub)),
		}}.Execute(t)
		if err != nil {
			if isAuthError(err) {
				return fmt.Errorf("%w: sealed key: %w", ErrTPMAuth, err)
			}
			return fmt.Errorf("session: tpm unseal: %w", err)
		}
		key := ursp.OutData.Buffer
		if len(key) != sealedKeySize {
			return fmt.Errorf("%w: sealed key is %d bytes, want %d", ErrCorrupt, len(key), sealedKeySize)
		}
		plain, err = gcmOpen(key, f.Nonce, f.Ciphertext, aad(k.name.Buffer))
		return err
	})
	if err != nil {
		return nil, err
	}
	return plain, nil
}

func (s *sealedBackend) remove(context.Context) error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("session: remove sealed file: %w", err)
	}
	return nil
}

func readSealedFile(path string) (*sealedFile, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("session: open sealed file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, MaxSealedFile+1))
	if err != nil {
		return nil, fmt.Errorf("session: read sealed file: %w", err)
	}
	if len(b) > MaxSealedFile {
		return nil, fmt.Errorf("%w: sealed file is larger than %d bytes", ErrCorrupt, MaxSealedFile)
	}
	var f sealedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: sealed file: %w", ErrCorrupt, err)
	}
	switch {
	case f.V != sealedVersion:
		return nil, fmt.Errorf("%w: sealed file version %d, want %d", ErrCorrupt, f.V, sealedVersion)
	case len(f.SRKName) == 0, len(f.Public) == 0, len(f.Private) == 0, len(f.Ciphertext) == 0:
		return nil, fmt.Errorf("%w: sealed file lacks a field", ErrCorrupt)
	case len(f.Nonce) != 12:
		return nil, fmt.Errorf("%w: sealed file nonce is %d bytes, want 12", ErrCorrupt, len(f.Nonce))
	}
	return &f, nil
}

func gcmSeal(key, plain, ad []byte) (nonce, ct []byte, err error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, fmt.Errorf("session: aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, fmt.Errorf("session: gcm: %w", err)
	}
	nonce = make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, fmt.Errorf("session: nonce: %w", err)
	}
	return nonce, aead.Seal(nil, nonce, plain, ad), nil
}

func gcmOpen(key, nonce, ct, ad []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("session: aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("session: gcm: %w", err)
	}
	plain, err := aead.Open(nil, nonce, ct, ad)
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext does not authenticate", ErrCorrupt)
	}
	return plain, nil
}

// writeFileAtomic replaces path with data, readable by the user only, so a
// crash leaves the old file or the new one, never half of one.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("session: config dir: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("session: write sealed file: %w", err)
	}
	return nil
}
