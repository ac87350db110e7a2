package session_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client/session"
)

// How the desktop client uses the store: at start, try to resume; after
// sign-in, save and tell the user when the session will not survive a
// restart; at sign-out, delete.
func Example() {
	ctx := context.Background()
	st, err := session.Open(ctx, session.Options{NoKeyring: true, NoTPM: true}) // as on a machine with neither
	if err != nil {
		panic(err)
	}
	if _, err := st.Load(ctx); errors.Is(err, session.ErrNoSession) {
		fmt.Println("no saved session: show the sign-in screen")
	}
	w, err := st.Save(ctx, session.Record{
		ServiceURL:   "https://renew.example.cn",
		User:         "13800138000",
		RefreshToken: "rt_from_the_service",
		Expiry:       time.Now().Add(30 * 24 * time.Hour),
	})
	if err != nil {
		panic(err)
	}
	if !w.Persistent() {
		fmt.Printf("kept in %s: your session will not survive a restart\n", w)
	}
	if err := st.Delete(ctx); err != nil {
		panic(err)
	}
	_, err = st.Load(ctx)
	fmt.Println("after sign-out:", errors.Is(err, session.ErrNoSession))
	// Output:
	// no saved session: show the sign-in screen
	// kept in memory: your session will not survive a restart
	// after sign-out: true
}
