package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/zalando/go-keyring"
)

// keyringBackend keeps the encoded record as one keyring secret.
type keyringBackend struct {
	service, account string
	g                *guard
}

// probe checks that the keyring answers at all: a lookup of an entry that
// need not exist must end with "found" or "not found" within the timeout.
func (k *keyringBackend) probe(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, k.g.timeout)
	defer cancel()
	if err := keyringReachable(rctx); err != nil {
		return err
	}
	err := k.g.do(ctx, func() error {
		_, err := keyring.Get(k.service, k.account+".probe")
		if errors.Is(err, keyring.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoKeyring, err)
	}
	return nil
}

func (k *keyringBackend) save(ctx context.Context, data []byte) error {
	err := k.g.do(ctx, func() error { return keyring.Set(k.service, k.account, string(data)) })
	if err != nil {
		return fmt.Errorf("session: keyring save: %w", err)
	}
	return nil
}

func (k *keyringBackend) load(ctx context.Context) ([]byte, error) {
	var s string
	err := k.g.do(ctx, func() error {
		var err error
		s, err = keyring.Get(k.service, k.account)
		return err
	})
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return nil, ErrNoSession
	case err != nil:
		return nil, fmt.Errorf("session: keyring load: %w", err)
	}
	return []byte(s), nil
}

func (k *keyringBackend) remove(ctx context.Context) error {
	err := k.g.do(ctx, func() error { return keyring.Delete(k.service, k.account) })
	if err != nil && !errors.Is(err, keyring.ErrNotFound) {
		return fmt.Errorf("session: keyring delete: %w", err)
	}
	return nil
}
