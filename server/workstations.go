package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/renewal/counter"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Counter workstation limits.
const (
	CounterChallengeTTL        = 2 * time.Minute
	counterChallengesPerMinute = 12.0 // per client IP
	counterChallengeBurst      = 5
	// RoleCounter is the role of a session a counter workstation opened.
	RoleCounter = "counter"
)

// EnrolWorkstationRequest enrols a workstation's TPM public key.
type EnrolWorkstationRequest struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"` // PEM "PUBLIC KEY", ECDSA P-256
}

// Validate checks the name and the key.
func (q *EnrolWorkstationRequest) Validate() error {
	q.Name = renewal.NormalizeLine(q.Name)
	if err := renewal.ValidateName(q.Name, renewal.MaxWorkstationName); err != nil {
		e := renewal.AsError(err)
		e.Field = "name"
		return e
	}
	switch {
	case q.PublicKey == "":
		return renewal.NewError(renewal.CodeRequired, "public_key")
	}
	if !strings.Contains(q.PublicKey, "-----BEGIN") {
		return renewal.Errorf(renewal.CodeInvalidField, "public_key", "the public key must be PEM")
	}
	if _, err := counter.ParsePublicKey([]byte(q.PublicKey)); err != nil {
		return renewal.Errorf(renewal.CodeInvalidField, "public_key", "%s", err.Error())
	}
	return nil
}

// CounterSessionRequest proves a workstation holds an enrolled key.
type CounterSessionRequest struct {
	Fingerprint string `json:"fingerprint"` // hex SHA-256 of the PKIX DER
	Nonce       string `json:"nonce"`
	Signature   string `json:"signature"` // hex ASN.1 DER ECDSA
	nonce       []byte
	sig         []byte
}

// Validate checks the fields' forms.
func (q *CounterSessionRequest) Validate() error {
	q.Fingerprint = strings.ToLower(strings.TrimSpace(q.Fingerprint))
	if b, err := hex.DecodeString(q.Fingerprint); err != nil || len(b) != 32 {
		return renewal.Errorf(renewal.CodeInvalidField, "fingerprint", "the fingerprint is 64 hex digits")
	}
	b, err := hex.DecodeString(q.Nonce)
	if err != nil || len(b) != counter.NonceSize {
		return renewal.Errorf(renewal.CodeInvalidField, "nonce", "the nonce is 64 hex digits")
	}
	q.nonce = b
	s, err := hex.DecodeString(q.Signature)
	if err != nil || len(s) == 0 || len(s) > counter.MaxSignature {
		return renewal.Errorf(renewal.CodeInvalidField, "signature", "the signature is hex DER of at most %d bytes", counter.MaxSignature)
	}
	q.sig = s
	return nil
}

func (s *Server) enrolWorkstation(w http.ResponseWriter, r *http.Request) error {
	var req EnrolWorkstationRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	pub, _ := counter.ParsePublicKey([]byte(req.PublicKey))
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	fp, err := counter.Fingerprint(pub)
	if err != nil {
		return err
	}
	ws := &store.Workstation{ID: auth.NewID(), Name: req.Name, PublicKey: der, Fingerprint: fp,
		EnrolledBy: principalOf(r.Context()).user.ID}
	err = s.store.EnrolWorkstation(r.Context(), ws, s.change(r, "workstation.enrol"))
	if errors.Is(err, store.ErrConflict) {
		return renewal.Errorf(renewal.CodeConflict, "public_key", "this key is enrolled already, or the limit of %d workstations is reached", store.MaxWorkstations)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ws)
	return nil
}

func (s *Server) listWorkstations(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.store.Workstations(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"workstations": ws})
	return nil
}

func (s *Server) revokeWorkstation(w http.ResponseWriter, r *http.Request) error {
	err := s.store.RevokeWorkstation(r.Context(), r.PathValue("id"), s.change(r, "workstation.revoke"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return renewal.NewError(renewal.CodeNotFound, "")
	case errors.Is(err, store.ErrRevoked):
		return renewal.Errorf(renewal.CodeConflict, "", "the workstation is revoked already")
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// counterOrigin is the origin a workstation must sign: the public URL's,
// else the request's host over http, which counter.NewChallenge takes
// for a loopback host only.
func (s *Server) counterOrigin(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		if u, err := url.Parse(s.cfg.PublicURL); err == nil {
			return strings.ToLower(u.Scheme + "://" + u.Host)
		}
	}
	return "http://" + strings.ToLower(r.Host)
}

func (s *Server) counterChallenge(w http.ResponseWriter, r *http.Request) error {
	if ok, wait, err := s.counterLimit.take(r.Context(), sourceOf(s.clientIP(r))); err != nil {
		return err
	} else if !ok {
		return renewals.WithRetryAfter(renewal.NewError(renewal.CodeRateLimited, ""), int(wait.Seconds()+1))
	}
	c, err := counter.NewChallenge(s.counterOrigin(r), rand.Reader)
	if err != nil {
		// Without a public URL only a loopback Host makes a valid origin
		// (http is for loopback only), so a caller cannot choose one.
		return renewal.Errorf(renewal.CodeInvalidRequest, "", "no origin to sign: set the service's public URL (%s)", err.Error())
	}
	exp, err := s.store.AddCounterChallenge(r.Context(), c.Nonce[:], c.Origin, CounterChallengeTTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renewal.CounterChallenge{Origin: c.Origin, Nonce: hex.EncodeToString(c.Nonce[:]), ExpiresAt: exp})
	return nil
}

func (s *Server) counterSession(w http.ResponseWriter, r *http.Request) error {
	var req CounterSessionRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	// A well-formed proof costs a transaction and perhaps an audit row. A
	// session needs a challenge, so proofs get a bucket of the challenges'
	// size of their own: a workstation is never refused here before its
	// challenge would be, and a flood of made-up nonces is.
	source := sourceOf(s.clientIP(r))
	if ok, wait, err := s.counterLimit.take(r.Context(), "session "+source); err != nil {
		return err
	} else if !ok {
		return renewals.WithRetryAfter(renewal.NewError(renewal.CodeRateLimited, ""), int(wait.Seconds()+1))
	}
	t, rows, err := s.newCounterTokens()
	if err != nil {
		return err
	}
	cs := store.CounterSession{Nonce: req.nonce, Fingerprint: req.Fingerprint, Tokens: rows}
	ws, err := s.store.OpenCounterSession(r.Context(), cs, s.clientIP(r), func(origin string, ws *store.Workstation) error {
		k, err := x509.ParsePKIXPublicKey(ws.PublicKey)
		if err != nil {
			return err
		}
		pub, ok := k.(*ecdsa.PublicKey)
		if !ok {
			return counter.ErrBadPublicKey
		}
		c := counter.Challenge{Origin: origin}
		copy(c.Nonce[:], req.nonce)
		return counter.Verify(pub, c, req.sig)
	})
	if ref, ok := errors.AsType[*store.CounterRefusal](err); ok {
		// Anyone can post made-up proofs: one row a minute per source,
		// reason and workstation, the rest counted into the next.
		k := collapseKey{Action: "counter.session_refused", Target: ref.Target, Source: source, Reason: ref.Reason}
		ch := store.Change{Actor: "anonymous", IP: s.clientIP(r), Action: k.Action, WorkstationID: ref.WorkstationID}
		if err := s.auditCollapsed(r.Context(), k, counterRefusalWindow, ch,
			map[string]any{"fingerprint": req.Fingerprint, "reason": ref.Error()}); err != nil {
			return err
		}
	}
	switch {
	case errors.Is(err, store.ErrExpired):
		return renewal.NewError(renewal.CodeChallengeExpired, "nonce")
	case errors.Is(err, store.ErrUsed), errors.Is(err, store.ErrUnknownChallenge):
		return renewal.Errorf(renewal.CodeProofInvalid, "nonce", "the challenge is unknown or used")
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrRevoked):
		return renewal.Errorf(renewal.CodeForbidden, "fingerprint", "this workstation is not enrolled")
	case errors.Is(err, counter.ErrBadSignature), errors.Is(err, counter.ErrBadChallenge), errors.Is(err, counter.ErrBadPublicKey):
		return renewal.Errorf(renewal.CodeProofInvalid, "signature", "the signature does not verify")
	case err != nil:
		return err
	}
	t.WorkstationID, t.WorkstationName = ws.ID, ws.Name
	writeJSON(w, http.StatusOK, t)
	return nil
}

type counterKey struct{}

// counterAuthed checks a counter session's bearer token; the handler finds
// the workstation with counterOf.
func (s *Server) counterAuthed(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, err := bearer(r)
		if err != nil {
			return err
		}
		ws, err := s.store.ValidCounterToken(r.Context(), auth.HashToken(tok))
		if err != nil {
			return tokenError(err)
		}
		if ok, wait, err := s.accountLimit.take(r.Context(), "workstation/"+ws.ID); err != nil {
			return err
		} else if !ok {
			return renewals.WithRetryAfter(renewal.NewError(renewal.CodeRateLimited, ""), int(wait.Seconds()+1))
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), counterKey{}, ws)))
	}
}

// counterSMSLogin signs a clerk in at a counter: the clerk gives the SMS
// code sent to their mobile, the counter session vouches for the place.
// The clerk session is an ordinary one, tied to the workstation (revoking
// the workstation ends it) and audited with it; only clerks sign in so.
func (s *Server) counterSMSLogin(w http.ResponseWriter, r *http.Request) error {
	ws, _ := r.Context().Value(counterKey{}).(*store.Workstation)
	if ws == nil {
		return renewal.NewError(renewal.CodeUnauthenticated, "")
	}
	var req renewal.SMSLoginRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	u, err := s.smsLoginUser(r.Context(), req, s.clientIP(r), func(u *store.User) bool { return u.Role == renewal.RoleClerk })
	if err != nil {
		return err
	}
	t, rows, err := s.newTokens(r.Context(), u, "")
	if err != nil {
		return err
	}
	err = s.store.Write(r.Context(), func(tx *store.Tx) error {
		if err := tx.CreateTokens(r.Context(), rows...); err != nil {
			return err
		}
		if err := tx.MarkCounterFamily(r.Context(), rows[0].Family, ws.ID); err != nil {
			return err
		}
		return tx.Audit(store.Change{Actor: u.ID, IP: s.clientIP(r), Action: "auth.sms_login", WorkstationID: ws.ID}, "user/"+u.ID, nil,
			map[string]any{"family": rows[0].Family, "via_counter": true, "workstation": ws.ID})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// newCounterTokens makes a counter session's token pair.
func (s *Server) newCounterTokens() (renewal.CounterTokens, []*store.CounterToken, error) {
	now, l := s.now(), s.cfg.Limits
	access, accessHash, err := auth.NewToken(auth.AccessPrefix)
	if err != nil {
		return renewal.CounterTokens{}, nil, err
	}
	refresh, refreshHash, err := auth.NewToken(auth.RefreshPrefix)
	if err != nil {
		return renewal.CounterTokens{}, nil, err
	}
	t := renewal.CounterTokens{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", Role: RoleCounter,
		ExpiresAt: now.Add(l.AccessTTL).UTC(), RefreshExpiresAt: now.Add(l.RefreshTTL).UTC()}
	return t, []*store.CounterToken{
		{Hash: accessHash, Kind: store.AccessToken, ExpiresAt: t.ExpiresAt},
		{Hash: refreshHash, Kind: store.RefreshToken, ExpiresAt: t.RefreshExpiresAt},
	}, nil
}

// counterRefresh trades a counter refresh token (single use) for a new
// pair. POST /v1/counter/refresh, body as /v1/auth/refresh. A spent token
// presented again ends the whole counter session (see RotateCounterRefresh).
func (s *Server) counterRefresh(w http.ResponseWriter, r *http.Request) error {
	var req renewal.RefreshRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	t, rows, err := s.newCounterTokens()
	if err != nil {
		return err
	}
	ws, err := s.store.RotateCounterRefresh(r.Context(), auth.HashToken(req.RefreshToken), rows...)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrRevoked), errors.Is(err, store.ErrTokenReused):
		return renewal.NewError(renewal.CodeTokenRevoked, "")
	case errors.Is(err, store.ErrExpired):
		return renewal.NewError(renewal.CodeTokenExpired, "")
	case err != nil:
		return err
	}
	t.WorkstationID, t.WorkstationName = ws.ID, ws.Name
	writeJSON(w, http.StatusOK, t)
	return nil
}
