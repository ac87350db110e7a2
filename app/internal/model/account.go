package model

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Account is the clerk's connection to the renewal service, shared by the
// journey screens: one client.Client, and the session kept through
// client/session (OS keyring, else a TPM-sealed file, else memory only,
// which Kept says in words). A refresh token the service rotates is saved
// back at once. No PIN and no password ever reach it.
type Account struct {
	url   string
	store *session.Store // nil: memory only (counter mode)
	opts  []client.Option

	mu sync.Mutex
	c  *client.Client

	// SignedIn is true while a session is held.
	SignedIn binding.Bool
	// Who is the signed-in user as shown ("张三 · 深圳市…有限公司").
	Who binding.String
	// Kept says where the session is kept; "" when signed out.
	Kept binding.String
	// KeptLevel is the urgency of Kept (LevelWarn when memory only).
	KeptLevel binding.Int
}

// NewAccount connects to the service at serviceURL. st may be nil: the
// session then lives in memory only (counter mode). opts go to every
// client.New (the clock, the CA, the language).
func NewAccount(serviceURL string, st *session.Store, opts ...client.Option) (*Account, error) {
	a := &Account{url: serviceURL, store: st, opts: opts,
		SignedIn: binding.NewBool(), Who: binding.NewString(), Kept: binding.NewString(), KeptLevel: binding.NewInt()}
	c, err := a.newClient("")
	if err != nil {
		return nil, err
	}
	a.c = c
	return a, nil
}

func (a *Account) newClient(refresh string) (*client.Client, error) {
	opts := append([]client.Option{}, a.opts...)
	if refresh != "" {
		opts = append(opts, client.WithRefreshToken(refresh))
	}
	opts = append(opts, client.WithTokenCallback(a.keep))
	c, err := client.New(a.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("renewal service %q: %w", a.url, err)
	}
	return c, nil
}

// UseStore sets where the session is kept, for a store opened after the
// account (opening one probes the keyring and the TPM, which may take
// seconds: the window need not wait for it). nil keeps it in memory.
func (a *Account) UseStore(st *session.Store) {
	a.mu.Lock()
	a.store = st
	a.mu.Unlock()
}

func (a *Account) sessionStore() *session.Store {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.store
}

// Client is the service client (signed in or not).
func (a *Account) Client() *client.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c
}

// URL is the service's base URL.
func (a *Account) URL() string { return a.url }

// Fresh is a new, signed-out account of the same service with the same
// client options, its session in memory only (counter mode's next
// customer).
func (a *Account) Fresh() (*Account, error) { return NewAccount(a.url, nil, a.opts...) }

// keep saves each new token pair's refresh token and publishes who is signed in.
func (a *Account) keep(ctx context.Context, t renewal.Tokens) {
	where := session.InMemory
	var err error
	if st := a.sessionStore(); st != nil {
		rec := session.Record{ServiceURL: a.url, User: userLabel(t.User), RefreshToken: t.RefreshToken, Expiry: t.RefreshExpiresAt}
		where, err = st.Save(ctx, rec)
	}
	a.setKept(where, err)
	_ = a.Who.Set(userText(t.User))
	_ = a.SignedIn.Set(true) // last: screens switch on it
}

func (a *Account) setKept(where session.Where, err error) {
	switch {
	case err != nil:
		_ = a.Kept.Set(lang.X("session.save_failed", "无法保存登录状态（{{.Err}}）：关闭程序后需要重新登录。", map[string]any{"Err": err}))
		_ = a.KeptLevel.Set(int(LevelWarning))
	case where == session.InKeyring:
		_ = a.Kept.Set(lang.X("session.in_keyring", "登录状态保存在系统钥匙串中，重启后仍有效。"))
		_ = a.KeptLevel.Set(int(LevelOK))
	case where == session.InSealedFile:
		_ = a.Kept.Set(lang.X("session.in_tpm", "登录状态由本机 TPM 加密保存，重启后仍有效。"))
		_ = a.KeptLevel.Set(int(LevelOK))
	default:
		_ = a.Kept.Set(lang.X("session.in_memory", "本机没有可用的钥匙串或 TPM：登录状态只保存在内存中，关闭程序后需要重新登录。"))
		_ = a.KeptLevel.Set(int(LevelWarning))
	}
}

func userLabel(u renewal.User) string {
	for _, s := range []string{u.Mobile, u.Account, u.Name, u.ID} {
		if s != "" {
			return s
		}
	}
	return "?"
}

func userText(u renewal.User) string {
	parts := []string{}
	for _, s := range []string{u.Name, u.OrganisationName, u.Mobile} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " · ")
}

// ErrNoSavedSession: Resume found nothing to resume.
var ErrNoSavedSession = errors.New("no saved session")

// Resume signs in again with the saved session, if any, for this service.
// A saved session that is corrupt, expired, for another service or refused
// by the service is removed: the clerk simply signs in again.
func (a *Account) Resume(ctx context.Context) error {
	st := a.sessionStore()
	if st == nil {
		return ErrNoSavedSession
	}
	rec, err := st.Load(ctx)
	if err != nil {
		if errors.Is(err, session.ErrNoSession) {
			return ErrNoSavedSession
		}
		return fmt.Errorf("%w: %w", ErrNoSavedSession, err)
	}
	if rec.ServiceURL != a.url {
		return fmt.Errorf("%w: the saved session is for %s", ErrNoSavedSession, rec.ServiceURL)
	}
	c, err := a.newClient(rec.RefreshToken)
	if err != nil {
		return err
	}
	if _, err := c.Refresh(ctx); err != nil {
		if errors.Is(err, client.ErrSessionEnded) || errors.Is(err, client.ErrNotSignedIn) {
			_ = st.Delete(ctx)
		}
		return fmt.Errorf("resume session: %w", err)
	}
	a.mu.Lock()
	a.c = c
	a.mu.Unlock()
	return nil
}

// SignOut ends the session at the service (when it can be reached) and
// removes it from every place it was kept.
func (a *Account) SignOut(ctx context.Context) error {
	serviceErr := a.Client().Logout(ctx)
	var storeErr error
	if st := a.sessionStore(); st != nil {
		storeErr = st.Delete(ctx)
	}
	_ = a.SignedIn.Set(false)
	_ = a.Who.Set("")
	_ = a.Kept.Set("")
	if storeErr != nil {
		return fmt.Errorf("remove the saved session: %w", storeErr)
	}
	if serviceErr != nil {
		return fmt.Errorf("signed out here; the service was not told: %w", serviceErr)
	}
	return nil
}

// Ended handles an error of any call: when it says the session ended, the
// account signs out here (the saved session is removed) and true is returned.
func (a *Account) Ended(ctx context.Context, err error) bool {
	if !errors.Is(err, client.ErrSessionEnded) && !errors.Is(err, client.ErrNotSignedIn) {
		return false
	}
	if st := a.sessionStore(); st != nil {
		_ = st.Delete(ctx)
	}
	_ = a.SignedIn.Set(false)
	_ = a.Who.Set("")
	_ = a.Kept.Set("")
	return true
}

// ServiceErrText says what went wrong with a call to the service, in the
// interface language, and what to do next.
func ServiceErrText(err error) string {
	if err == nil {
		return ""
	}
	var api *client.APIError
	switch {
	case errors.Is(err, client.ErrSessionEnded), errors.Is(err, client.ErrNotSignedIn):
		return lang.X("err.session_ended", "登录已过期，请重新登录。")
	case errors.Is(err, context.Canceled):
		return lang.X("err.cancelled", "操作已取消。")
	case renewal.CodeOf(err) == renewal.CodeStaleVersion:
		return lang.X("err.stale", "这份申请刚在别处（另一台电脑或审核员）被修改过，已重新载入最新内容，请核对后再操作。")
	case errors.As(err, &api) && api.Status == http.StatusTooManyRequests && api.RetryAfter > 0:
		// A limit: say when it lifts (the service says it in Retry-After).
		return retryText(api.Code, api.RetryAfter)
	case errors.As(err, &api) || renewal.CodeOf(err) != renewal.CodeUnknown:
		return renewal.AsError(err).Localized(string(CurrentLang()))
	}
	return lang.X("err.service_down", "无法连接续期服务（{{.Host}}），请检查网络后重试。", map[string]any{"Host": serviceHost(err)})
}

// retryText says that a limit refused a call and when to try again.
func retryText(code renewal.Code, wait time.Duration) string {
	w := map[string]any{"Wait": WaitText(wait)}
	switch code {
	case renewal.CodeRateLimited:
		return lang.X("err.rate_limited_in", "操作过于频繁，请 {{.Wait}}后再试。", w)
	case renewal.CodeSMSTooSoon:
		return lang.X("err.sms_too_soon_in", "验证码刚发送过，请 {{.Wait}}后再获取。", w)
	case renewal.CodeSMSDailyLimit:
		return lang.X("err.sms_daily_limit_in", "此手机号今天获取验证码的次数已达上限，请 {{.Wait}}后再获取。", w)
	}
	w["Err"] = renewal.NewError(code, "").Localized(string(CurrentLang()))
	return lang.X("err.retry_in", "{{.Err}}（{{.Wait}}后可重试）", w)
}

// WaitText is a wait in words: seconds under two minutes, else minutes
// (rounded up), with hours from an hour on.
func WaitText(d time.Duration) string {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 120 {
		return lang.X("wait.seconds", "{{.N}} 秒", map[string]any{"N": secs})
	}
	mins := (secs + 59) / 60
	if mins < 60 {
		return lang.X("wait.minutes", "{{.N}} 分钟", map[string]any{"N": mins})
	}
	return lang.X("wait.hours", "{{.H}} 小时 {{.M}} 分钟", map[string]any{"H": mins / 60, "M": mins % 60})
}

// serviceHost is the host:port a failed request went to, for the clerk
// (and a hotline) to tell which service: not Go's dial error.
func serviceHost(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return u.Host
		}
	}
	return lang.X("err.service_host_unknown", "地址未知")
}
