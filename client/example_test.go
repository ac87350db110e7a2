package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// How the desktop app wires the client to the saved session: resume with
// the saved refresh token, save every rotated one, and sign in again when
// the session has ended.
func Example_session() {
	ctx := context.Background()
	st, err := session.Open(ctx, session.Options{})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := st.Load(ctx)
	if err != nil {
		fmt.Println("no saved session: show the sign-in screen")
		return
	}
	c, err := client.New(rec.ServiceURL,
		client.WithRefreshToken(rec.RefreshToken),
		client.WithTokenCallback(func(ctx context.Context, t renewal.Tokens) {
			rec.RefreshToken, rec.Expiry = t.RefreshToken, t.RefreshExpiresAt
			if _, err := st.Save(ctx, rec); err != nil {
				log.Printf("the renewed session was not saved: %v", err)
			}
		}))
	if err != nil {
		log.Fatal(err)
	}
	page, err := c.ListApplications(ctx, renewal.ListApplicationsRequest{Status: []renewal.Status{renewal.StatusReadyToDownload}})
	switch {
	case errors.Is(err, client.ErrSessionEnded):
		_ = st.Delete(ctx)
		fmt.Println("signed out elsewhere: show the sign-in screen")
	case err != nil:
		fmt.Println(renewal.AsError(err).Localized("zh-CN"))
	default:
		fmt.Println(len(page.Items), "to install")
	}
}

// The QR countdown and status of a payment, polled through whatever route
// serves it; the countdown follows the server's clock.
func ExamplePaymentWatcher() {
	var fetch client.FetchPaymentPoll = func(ctx context.Context) (client.PaymentPoll, error) {
		// GET the payment status; State from its body, ExpiresAt from its
		// expiry, ServerTime from client.ServerDate(response header).
		return client.PaymentPoll{State: client.PaymentPaid, ExpiresAt: time.Now().Add(300 * time.Second)}, nil
	}
	w := &client.PaymentWatcher{Fetch: fetch, OnUpdate: func(u client.PaymentUpdate) {
		// In the app: a binding the QR screen shows, e.g. "04:59".
		_ = u.Remaining
	}}
	st, err := w.Watch(context.Background())
	fmt.Println(st.State, err)
	// Output: paid <nil>
}
