package server

import "github.com/ukeyrenew/ukeyrenew/server/renewals"

// The kill tests still spell the payment hooks under this package; the
// service, renewd and every other test use renewals.PaymentHooks. Delete
// this file once kill_test.go says renewals.
type PaymentHooks = renewals.PaymentHooks

// NewPaymentHooks is renewals.NewPaymentHooks (see PaymentHooks above).
var NewPaymentHooks = renewals.NewPaymentHooks
