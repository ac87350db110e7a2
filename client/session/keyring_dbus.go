//go:build !windows && !darwin

package session

import (
	"context"
	"fmt"
	"slices"

	"github.com/godbus/dbus/v5"
)

const secretServiceName = "org.freedesktop.secrets"

// keyringReachable looks for a Secret Service on the session bus without
// ever auto-launching a bus: go-keyring connects with dbus.SessionBus, which
// runs dbus-launch when no bus address is known, and those daemons outlive
// the process. So go-keyring is only called once this has found a bus (the
// same address discovery, minus the launch) with the Secret Service name
// owned or activatable on it.
func keyringReachable(ctx context.Context) error {
	type result struct{ err error }
	done := make(chan result, 1)
	go func() {
		conn, err := dbus.SessionBusPrivateNoAutoStartup(dbus.WithContext(ctx))
		if err != nil {
			done <- result{fmt.Errorf("%w: no D-Bus session bus: %w", ErrNoKeyring, err)}
			return
		}
		defer conn.Close()
		if err := conn.Auth(nil); err != nil {
			done <- result{fmt.Errorf("%w: D-Bus session bus: %w", ErrNoKeyring, err)}
			return
		}
		if err := conn.Hello(); err != nil {
			done <- result{fmt.Errorf("%w: D-Bus session bus: %w", ErrNoKeyring, err)}
			return
		}
		bus := conn.BusObject()
		var owned bool
		if err := bus.CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, secretServiceName).Store(&owned); err != nil {
			done <- result{fmt.Errorf("%w: D-Bus NameHasOwner: %w", ErrNoKeyring, err)}
			return
		}
		if owned {
			done <- result{nil}
			return
		}
		var names []string
		if err := bus.CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&names); err != nil {
			done <- result{fmt.Errorf("%w: D-Bus ListActivatableNames: %w", ErrNoKeyring, err)}
			return
		}
		if !slices.Contains(names, secretServiceName) {
			done <- result{fmt.Errorf("%w: no Secret Service (%s) on the D-Bus session bus", ErrNoKeyring, secretServiceName)}
			return
		}
		done <- result{nil}
	}()
	select {
	case r := <-done:
		return r.err
	case <-ctx.Done():
		return fmt.Errorf("%w: D-Bus session bus: %w", ErrNoKeyring, ctx.Err())
	}
}
