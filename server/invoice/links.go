package invoice

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Links signs and checks the tokens of invoice download links.
type Links struct {
	key []byte
}

// MinLinkKey is the shortest key Links accepts.
const MinLinkKey = 16

// MaxTokenLen bounds a token read from a URL.
const MaxTokenLen = 128

// Link errors.
var (
	ErrLinkInvalid = errors.New("invoice: link is not valid")
	ErrLinkExpired = errors.New("invoice: link has expired")
)

// NewLinks returns Links keyed by key (at least MinLinkKey bytes).
func NewLinks(key []byte) (*Links, error) {
	if len(key) < MinLinkKey {
		return nil, errors.New("invoice: link key of at least 16 bytes required")
	}
	return &Links{key: key}, nil
}

func (l *Links) mac(appID, number string, exp int64) []byte {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte("ukey-invoice-link\x00" + appID + "\x00" + number + "\x00" + strconv.FormatInt(exp, 10)))
	return m.Sum(nil)
}

// Token returns the token for the invoice number of application appID,
// valid until exp (to the second).
func (l *Links) Token(appID, number string, exp time.Time) string {
	e := exp.Unix()
	return strconv.FormatInt(e, 10) + "." + base64.RawURLEncoding.EncodeToString(l.mac(appID, number, e))
}

// Check verifies token for the invoice number of application appID at
// time now: ErrLinkInvalid for anything forged or malformed,
// ErrLinkExpired for a genuine one past its time.
func (l *Links) Check(appID, number, token string, now time.Time) error {
	if len(token) > MaxTokenLen {
		return ErrLinkInvalid
	}
	es, ms, ok := strings.Cut(token, ".")
	if !ok {
		return ErrLinkInvalid
	}
	exp, err := strconv.ParseInt(es, 10, 64)
	if err != nil || exp <= 0 {
		return ErrLinkInvalid
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(ms) // one spelling per token
	if err != nil || !hmac.Equal(got, l.mac(appID, number, exp)) {
		return ErrLinkInvalid
	}
	if !now.Before(time.Unix(exp, 0)) {
		return ErrLinkExpired
	}
	return nil
}
