package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// OutboxCapacity is how many messages an Outbox keeps in memory.
const OutboxCapacity = 1000

// Sent is a message as the outbox recorded it.
type Sent struct {
	Message
	At time.Time `json:"at"`
}

// Outbox is the development Sender: nothing leaves the machine.
type Outbox struct {
	now  func() time.Time
	file string

	mu   sync.Mutex
	msgs []Sent
}

// NewOutbox returns an outbox; if file is not empty each message is also
// appended to it as one JSON line (mode 0600), for developers to tail.
func NewOutbox(file string, now func() time.Time) *Outbox {
	return &Outbox{file: file, now: now}
}

// Send implements Sender.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	s := Sent{Message: m, At: o.now().UTC()}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.msgs) == OutboxCapacity {
		copy(o.msgs, o.msgs[1:])
		o.msgs = o.msgs[:OutboxCapacity-1]
	}
	o.msgs = append(o.msgs, s)
	if o.file == "" {
		return nil
	}
	line, err := json.Marshal(s)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(o.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sms: outbox file: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sms: outbox file: %w", err)
	}
	return nil
}

// Messages returns the recorded messages, oldest first; with mobile set,
// only those to that number.
func (o *Outbox) Messages(mobile string) []Sent {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Sent
	for _, s := range o.msgs {
		if mobile == "" || s.Mobile == mobile {
			out = append(out, s)
		}
	}
	return out
}

// Last returns the newest message to mobile.
func (o *Outbox) Last(mobile string) (Sent, bool) {
	msgs := o.Messages(mobile)
	if len(msgs) == 0 {
		return Sent{}, false
	}
	return msgs[len(msgs)-1], true
}
