package invoice

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Mail is one plain-text e-mail.
type Mail struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// Limits of a mail.
const (
	MaxSubjectRunes = 200
	MaxBodyBytes    = 64 << 10
)

// Validate checks a mail before it is sent.
func (m Mail) Validate() error {
	a, err := mail.ParseAddress(m.To)
	if err != nil || a.Address != m.To {
		return errors.New("mail: the recipient must be one bare address")
	}
	if strings.ContainsAny(m.Subject, "\r\n") || len([]rune(m.Subject)) > MaxSubjectRunes || m.Subject == "" {
		return fmt.Errorf("mail: subject must be one line of 1..%d characters", MaxSubjectRunes)
	}
	if len(m.Body) > MaxBodyBytes {
		return fmt.Errorf("mail: body over %d bytes", MaxBodyBytes)
	}
	return nil
}

// Mailer sends mail.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// ErrMailRejected means the mail cannot be sent as it is (bad address,
// refused by the server); sending it again will not help.
var ErrMailRejected = errors.New("mail: rejected")

// OutboxCapacity is how many mails an Outbox keeps.
const OutboxCapacity = 1000

// SentMail is a mail as the outbox recorded it.
type SentMail struct {
	Mail
	At time.Time `json:"at"`
}

// Outbox is the development Mailer: it keeps the mails in memory for
// developers and tests; nothing leaves the machine.
type Outbox struct {
	now  func() time.Time
	mu   sync.Mutex
	msgs []SentMail
}

// NewOutbox returns an empty outbox on the clock now.
func NewOutbox(now func() time.Time) *Outbox { return &Outbox{now: now} }

// Send implements Mailer.
func (o *Outbox) Send(ctx context.Context, m Mail) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrMailRejected, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.msgs) == OutboxCapacity {
		o.msgs = append(o.msgs[:0], o.msgs[1:]...)
	}
	o.msgs = append(o.msgs, SentMail{Mail: m, At: o.now().UTC()})
	return nil
}

// Mails returns the recorded mails, oldest first; with to set, only those
// to that address.
func (o *Outbox) Mails(to string) []SentMail {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []SentMail
	for _, m := range o.msgs {
		if to == "" || m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// SMTPConfig is a submission server (port 587 with STARTTLS).
type SMTPConfig struct {
	Addr     string // host:port
	From     string // envelope and header sender
	Username string // empty: no AUTH
	Password string
	// TLS is the client TLS configuration (ServerName defaults to Addr's
	// host; RootCAs to the system's). STARTTLS is required: a server
	// that does not offer it gets nothing.
	TLS *tls.Config
	// Timeout bounds one whole send (default DefaultSMTPTimeout).
	Timeout time.Duration
}

// DefaultSMTPTimeout bounds one send.
const DefaultSMTPTimeout = 30 * time.Second

// SMTP sends mail through a submission server with net/smtp.
type SMTP struct {
	cfg SMTPConfig
}

// NewSMTP checks cfg and returns the mailer.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp: address %q: %w", cfg.Addr, err)
	}
	if a, err := mail.ParseAddress(cfg.From); err != nil || a.Address != cfg.From {
		return nil, fmt.Errorf("smtp: sender %q is not one bare address", cfg.From)
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		t = cfg.TLS.Clone()
	}
	if t.ServerName == "" {
		t.ServerName = host
	}
	cfg.TLS = t
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultSMTPTimeout
	}
	return &SMTP{cfg: cfg}, nil
}

// Send implements Mailer.
func (s *SMTP) Send(ctx context.Context, m Mail) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrMailRejected, err)
	}
	// A Chinese domain goes as punycode; a user name that is not ASCII
	// needs SMTPUTF8 (renewal.ValidateEmail refuses those as they are
	// typed; an older request may still hold one).
	to, err := renewal.EmailASCII(m.To)
	if err != nil {
		return fmt.Errorf("%w: recipient %q: %w", ErrMailRejected, m.To, err)
	}
	m.To = to
	needUTF8 := strings.ContainsFunc(to, func(r rune) bool { return r >= utf8.RuneSelf })
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp: dial: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, s.cfg.TLS.ServerName)
	if err != nil {
		return fmt.Errorf("smtp: greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("smtp: hello: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return errors.New("smtp: the server does not offer STARTTLS; refusing to send in clear")
	}
	if err := c.StartTLS(s.cfg.TLS); err != nil {
		return fmt.Errorf("smtp: starttls: %w", err)
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.TLS.ServerName)); err != nil {
			return fmt.Errorf("smtp: auth: %w", err)
		}
	}
	if ok, _ := c.Extension("SMTPUTF8"); needUTF8 && !ok {
		return fmt.Errorf("%w: %q has a user name that is not ASCII and the mail server does not offer SMTPUTF8", ErrMailRejected, to)
	}
	if err := c.Mail(s.cfg.From); err != nil { // with SMTPUTF8 when the server offers it
		return fmt.Errorf("smtp: sender: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("%w: recipient: %w", ErrMailRejected, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: data: %w", err)
	}
	if _, err := w.Write(message(s.cfg.From, m, time.Now())); err != nil {
		return fmt.Errorf("smtp: data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: data: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp: quit: %w", err)
	}
	return nil
}

// message renders m as an RFC 5322 message: UTF-8 subject (RFC 2047),
// base64 body lines of 76 characters, CRLF line ends.
func message(from string, m Mail, at time.Time) []byte {
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from)
	h("To", m.To)
	h("Subject", mime.BEncoding.Encode("utf-8", m.Subject))
	h("Date", at.Format(time.RFC1123Z))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(m.Body))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}
