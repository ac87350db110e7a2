package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

const smsPurposeLogin = "login"

// chinaTime is the CA's time zone: daily SMS caps reset at midnight there.
var chinaTime = time.FixedZone("CST", 8*3600)

func dayStart(t time.Time) time.Time {
	t = t.In(chinaTime)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, chinaTime)
}

func (s *Server) smsCode(w http.ResponseWriter, r *http.Request) error {
	var req renewal.SMSCodeRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	mobile := renewal.NormalizeMobile(req.Mobile)
	l := s.cfg.Limits
	code, err := auth.NewCode(renewal.SMSCodeDigits)
	if err != nil {
		return err
	}
	u, err := s.store.UserByMobile(r.Context(), mobile)
	known := err == nil && !u.Disabled
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	ip := s.clientIP(r)
	perIP, office := s.smsSourceCap(ip)
	// A code row is kept for unknown numbers too: the limits then apply to
	// probing, and the answer is the same either way.
	err = s.store.CreateSMSCode(r.Context(), store.SMSCode{Mobile: mobile, Purpose: smsPurposeLogin,
		CodeHash: s.pepper.HashCode(smsPurposeLogin, mobile, code), IP: sourceOf(ip), TTL: l.SMSCodeTTL},
		store.SMSLimits{ResendAfter: l.SMSResendAfter, PerNumberPerIP: l.SMSDailyPerMobileSource, PerNumberPerDay: l.SMSDailyPerMobile,
			PerIPPerDay: perIP, Office: office, DayStart: dayStart(s.now())})
	var refused *store.LimitError
	switch {
	case errors.As(err, &refused) && errors.Is(err, store.ErrTooSoon):
		return s.tryAgain(renewal.NewError(renewal.CodeSMSTooSoon, "mobile"), refused.Until)
	case errors.As(err, &refused):
		// The caps reset at midnight in Beijing.
		return s.tryAgain(renewal.NewError(renewal.CodeSMSDailyLimit, "mobile"), refused.Until)
	case err != nil:
		return err
	}
	if known {
		msg := sms.Message{Mobile: mobile, Purpose: sms.PurposeSignIn, Code: code, TTLMinutes: int(l.SMSCodeTTL.Minutes())}
		if err := s.sms.Send(r.Context(), msg); err != nil {
			return err
		}
		s.metrics.count("sms_sent")
	}
	writeJSON(w, http.StatusAccepted, renewal.SMSCodeSent{ExpiresIn: int(l.SMSCodeTTL.Seconds()), ResendAfter: int(l.SMSResendAfter.Seconds())})
	return nil
}

// smsSourceCap is the daily cap on codes asked from ip, and whether ip is
// in an office network (Limits.SMSOffices).
func (s *Server) smsSourceCap(ip string) (int, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return s.cfg.Limits.SMSDailyPerIP, false
	}
	for _, o := range s.cfg.Limits.SMSOffices {
		if o.Net.Contains(a.Unmap()) {
			return o.DailyPerIP, true
		}
	}
	return s.cfg.Limits.SMSDailyPerIP, false
}

// tryAgain is e refused by a limit that lifts at until: with Retry-After,
// and a message that tells when (seconds for a short wait, else the time
// of day in Beijing).
func (s *Server) tryAgain(e *renewal.Error, until time.Time) error {
	secs := max(int(math.Ceil(until.Sub(s.now()).Seconds())), 1)
	if secs < 120 {
		e.Message = fmt.Sprintf("%s (try again in %d s)", e.Message, secs)
		e.MessageZH = fmt.Sprintf("%s（%d 秒后可重试）", e.MessageZH, secs)
	} else {
		at := s.now().Add(time.Duration(secs) * time.Second).In(chinaTime).Format("15:04")
		e.Message = fmt.Sprintf("%s (try again after %s Beijing time)", e.Message, at)
		e.MessageZH = fmt.Sprintf("%s（北京时间 %s 后可重试）", e.MessageZH, at)
	}
	return renewals.WithRetryAfter(e, secs)
}

func (s *Server) smsLogin(w http.ResponseWriter, r *http.Request) error {
	var req renewal.SMSLoginRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	u, err := s.smsLoginUser(r.Context(), req, s.clientIP(r), nil)
	if err != nil {
		return err
	}
	return s.signIn(w, r, u, "auth.sms_login")
}

// smsLoginUser spends a sign-in SMS code given from ip and returns the
// enabled user it was sent to, refused also when allowed (if given) says no.
func (s *Server) smsLoginUser(ctx context.Context, req renewal.SMSLoginRequest, ip string, allowed func(*store.User) bool) (*store.User, error) {
	mobile := renewal.NormalizeMobile(req.Mobile)
	err := s.store.ConsumeSMSCode(ctx, mobile, smsPurposeLogin, s.pepper.HashCode(smsPurposeLogin, mobile, req.Code),
		sourceOf(ip), s.cfg.Limits.SMSMaxTries)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrMismatch):
		return nil, renewal.NewError(renewal.CodeSMSCodeWrong, "code")
	case errors.Is(err, store.ErrExpired):
		return nil, renewal.NewError(renewal.CodeSMSCodeExpired, "code")
	case errors.Is(err, store.ErrTooManyTries):
		return nil, renewal.NewError(renewal.CodeSMSTooManyTries, "code")
	case err != nil:
		return nil, err
	}
	u, err := s.store.UserByMobile(ctx, mobile)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (u.Disabled || (allowed != nil && !allowed(u)))) {
		// No code was sent to an unknown number: a right guess is still wrong.
		return nil, renewal.NewError(renewal.CodeSMSCodeWrong, "code")
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Server) passwordLogin(w http.ResponseWriter, r *http.Request) error {
	var req renewal.PasswordLoginRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	account := strings.TrimSpace(req.Account)
	// Failed sign-ins are limited per account and source, so a password
	// cannot be guessed quickly, and per source, so accounts cannot be
	// sprayed; never per account alone, so failures elsewhere cannot lock
	// the account's owner out. The buckets are drawn only on failure.
	src := sourceOf(s.clientIP(r))
	pair := strings.ToLower(account) + "\x00" + src
	okPair, waitPair, err := s.pwFailLimit.check(r.Context(), pair)
	if err != nil {
		return err
	}
	okSrc, waitSrc, err := s.pwSrcLimit.check(r.Context(), src)
	if err != nil {
		return err
	}
	if !okPair || !okSrc {
		return s.tryAgain(renewal.NewError(renewal.CodeRateLimited, ""), s.now().Add(max(waitPair, waitSrc)))
	}
	failed := func() {
		// Counted even if the caller hangs up: a guesser must not
		// escape the count by closing the connection.
		ctx := context.WithoutCancel(r.Context())
		if _, _, err := s.pwFailLimit.take(ctx, pair); err != nil {
			s.log.ErrorContext(ctx, "password failure not counted", "err", err.Error())
		}
		if _, _, err := s.pwSrcLimit.take(ctx, src); err != nil {
			s.log.ErrorContext(ctx, "password failure not counted", "err", err.Error())
		}
	}
	u, err := s.store.UserByAccount(r.Context(), account)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || u.PasswordHash == "" || u.Disabled {
		// Spend the time of a real check, so accounts cannot be probed.
		_ = s.hasher.Verify(r.Context(), dummyHash, req.Password)
		failed()
		return renewal.NewError(renewal.CodeBadCredentials, "")
	}
	if err := s.hasher.Verify(r.Context(), u.PasswordHash, req.Password); err != nil {
		if errors.Is(err, auth.ErrMismatch) {
			failed()
			_ = s.store.AppendAudit(r.Context(), store.Change{Actor: u.ID, IP: s.clientIP(r), Action: "auth.password_failed"}, "user/"+u.ID, nil, nil)
			return renewal.NewError(renewal.CodeBadCredentials, "")
		}
		return err
	}
	return s.signIn(w, r, u, "auth.password_login")
}

// dummyHash is checked when an account does not exist.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3Gq0Ycw0r4mWbOKm1LrpUOzkz4Fhw3jWv1Zd2Y3vQ5o"

// newTokens makes a token pair for user in family (a new family if empty).
func (s *Server) newTokens(ctx context.Context, u *store.User, family string) (renewal.Tokens, []*store.Token, error) {
	now, l := s.now(), s.cfg.Limits
	access, accessHash, err := auth.NewToken(auth.AccessPrefix)
	if err != nil {
		return renewal.Tokens{}, nil, err
	}
	refresh, refreshHash, err := auth.NewToken(auth.RefreshPrefix)
	if err != nil {
		return renewal.Tokens{}, nil, err
	}
	if family == "" {
		family = auth.NewID()
	}
	t := renewal.Tokens{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresAt: now.Add(l.AccessTTL).UTC(), RefreshExpiresAt: now.Add(l.RefreshTTL).UTC(), User: s.userView(ctx, u, true)}
	rows := []*store.Token{
		{Hash: accessHash, Kind: store.AccessToken, UserID: u.ID, Family: family, ExpiresAt: t.ExpiresAt},
		{Hash: refreshHash, Kind: store.RefreshToken, UserID: u.ID, Family: family, ExpiresAt: t.RefreshExpiresAt},
	}
	return t, rows, nil
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request, u *store.User, action string) error {
	t, rows, err := s.newTokens(r.Context(), u, "")
	if err != nil {
		return err
	}
	// The tokens and the audit entry of the sign-in commit together.
	err = s.store.Write(r.Context(), func(tx *store.Tx) error {
		if err := tx.CreateTokens(r.Context(), rows...); err != nil {
			return err
		}
		return tx.Audit(store.Change{Actor: u.ID, IP: s.clientIP(r), Action: action}, "user/"+u.ID, nil,
			map[string]string{"family": rows[0].Family})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	var req renewal.RefreshRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	h := auth.HashToken(req.RefreshToken)
	old, err := s.store.ValidToken(r.Context(), store.RefreshToken, h)
	switch {
	case errors.Is(err, store.ErrRevoked):
		// Spent or revoked. A spent token coming back means it was copied:
		// RotateRefresh then revokes the whole family.
		_, _ = s.store.RotateRefresh(r.Context(), h)
		return renewal.NewError(renewal.CodeTokenRevoked, "")
	case errors.Is(err, store.ErrExpired):
		return renewal.NewError(renewal.CodeTokenExpired, "")
	case errors.Is(err, store.ErrNotFound):
		return renewal.NewError(renewal.CodeTokenRevoked, "")
	case err != nil:
		return err
	}
	u, err := s.store.User(r.Context(), old.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return renewal.NewError(renewal.CodeTokenRevoked, "")
	}
	if err != nil {
		return err
	}
	t, rows, err := s.newTokens(r.Context(), u, old.Family)
	if err != nil {
		return err
	}
	if _, err := s.store.RotateRefresh(r.Context(), h, rows...); err != nil {
		if errors.Is(err, store.ErrTokenReused) || errors.Is(err, store.ErrRevoked) {
			return renewal.NewError(renewal.CodeTokenRevoked, "")
		}
		if errors.Is(err, store.ErrExpired) {
			return renewal.NewError(renewal.CodeTokenExpired, "")
		}
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r.Context())
	if err := s.store.RevokeFamily(r.Context(), p.family, s.change(r, "auth.logout")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	u := principalOf(r.Context()).user
	if u.OrganisationID != "" {
		if o, err := s.store.Organisation(r.Context(), u.OrganisationID); err == nil {
			u.OrganisationName = o.Name
		}
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// bearer is the request's bearer token, refused as unauthenticated when it
// is missing or longer than any token the service hands out.
func bearer(r *http.Request) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" || len(tok) > renewal.MaxTokenBytes {
		return "", renewal.NewError(renewal.CodeUnauthenticated, "")
	}
	return tok, nil
}

// tokenError says why the store refused a bearer token, in the codes the
// client acts on: sign in again, or refresh.
func tokenError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return renewal.NewError(renewal.CodeUnauthenticated, "")
	case errors.Is(err, store.ErrRevoked):
		return renewal.NewError(renewal.CodeTokenRevoked, "")
	case errors.Is(err, store.ErrExpired):
		return renewal.NewError(renewal.CodeTokenExpired, "")
	}
	return err
}

// authed checks the bearer token and the per-account rate limit.
func (s *Server) authed(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, err := bearer(r)
		if err != nil {
			return err
		}
		t, err := s.store.ValidToken(r.Context(), store.AccessToken, auth.HashToken(tok))
		if err != nil {
			return tokenError(err)
		}
		if ok, wait, err := s.accountLimit.take(r.Context(), t.UserID); err != nil {
			return err
		} else if !ok {
			return renewals.WithRetryAfter(renewal.NewError(renewal.CodeRateLimited, ""), int(wait.Seconds()+1))
		}
		u, err := s.store.User(r.Context(), t.UserID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
			return renewal.NewError(renewal.CodeTokenRevoked, "")
		}
		if err != nil {
			return err
		}
		ctx := context.WithValue(r.Context(), principalKey, principal{user: s.userView(r.Context(), u, false), family: t.Family, workstation: t.WorkstationID})
		return h(w, r.WithContext(ctx))
	}
}
