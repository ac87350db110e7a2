package sms

import (
	"context"
	"errors"
	"fmt"
	"regexp"
)

// Purpose says why a code is sent; each maps to a provider template.
type Purpose string

// Purposes.
const (
	PurposeSignIn     Purpose = "sign_in"
	PurposePhoneCheck Purpose = "phone_check"
	// PurposeInvoice sends the link to an issued e-invoice: Link, no code.
	PurposeInvoice Purpose = "invoice"
)

// MaxLinkBytes bounds Message.Link (an SMS holds about 70 Chinese
// characters; the link must fit beside the template's text).
const MaxLinkBytes = 256

// Message is one code to one mainland mobile number.
type Message struct {
	Mobile  string  `json:"mobile"` // 11 digits, no +86
	Purpose Purpose `json:"purpose"`
	Code    string  `json:"code,omitempty"`
	// Link is the invoice link (PurposeInvoice only).
	Link string `json:"link,omitempty"`
	// TTLMinutes is how long the code is valid, shown in the text.
	TTLMinutes int `json:"ttl_minutes"`
}

// Sender delivers a message or says why it could not.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrRejected means the provider refused the message (bad number, template,
// quota); sending the same message again will not help.
var ErrRejected = errors.New("sms: provider rejected the message")

var (
	mobileRE = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	codeRE   = regexp.MustCompile(`^[0-9]{4,8}$`)
	linkRE   = regexp.MustCompile(`^https?://[!-~]+$`)
)

// Validate checks a message before it costs money.
func (m Message) Validate() error {
	if !mobileRE.MatchString(m.Mobile) {
		return fmt.Errorf("sms: invalid mainland mobile number")
	}
	if m.Purpose == PurposeInvoice {
		if m.Code != "" || len(m.Link) > MaxLinkBytes || !linkRE.MatchString(m.Link) {
			return fmt.Errorf("sms: an invoice message carries one http(s) link of at most %d bytes and no code", MaxLinkBytes)
		}
		return nil
	}
	if m.Link != "" {
		return fmt.Errorf("sms: only an invoice message carries a link")
	}
	if !codeRE.MatchString(m.Code) {
		return fmt.Errorf("sms: code must be 4 to 8 digits")
	}
	switch m.Purpose {
	case PurposeSignIn, PurposePhoneCheck:
	default:
		return fmt.Errorf("sms: unknown purpose %q", m.Purpose)
	}
	if m.TTLMinutes < 1 || m.TTLMinutes > 60 {
		return fmt.Errorf("sms: ttl of %d minutes out of 1..60", m.TTLMinutes)
	}
	return nil
}
