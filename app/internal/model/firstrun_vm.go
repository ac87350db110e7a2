package model

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/config"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// FirstRunCheckTimeout bounds one check of an address (the connection,
// TLS and the answer of GET /v1/about).
const FirstRunCheckTimeout = 10 * time.Second

// FirstRunVM is the first-run dialog's, shown when no renewal service is
// configured (client/config found none): the clerk types the address the
// CA gave and, when the CA runs its own HTTPS certificates, chooses the
// CA's certificate file. Check tells whether the address is a renewal
// service this client can talk to, and if not, why, in words; Save checks,
// writes the user's config file (config.SaveUserFile) and returns the
// account to go on with. Nothing is written before Save succeeds.
type FirstRunVM struct {
	// URL is the address as typed; CAFile the CA file's path ("" for the
	// system's trusted roots).
	URL, CAFile binding.String
	// Message is the last check's outcome; Level its urgency (LevelOK when
	// the service answered and speaks this client's API, LevelNotice while
	// checking, LevelError else).
	Message binding.String
	Level   binding.Int
	// Busy is true while a check runs.
	Busy binding.Bool

	userFile string
	opts     []client.Option
	now      func() time.Time
	timeout  time.Duration
	apiMin   int
	apiMax   int
	running  sync.Mutex // one check at a time
}

// NewFirstRunVM asks for the service and saves it to userFile (the user's
// config file; "" when there is none, so Save says so). opts go to the
// account's clients (the language).
func NewFirstRunVM(userFile string, opts ...client.Option) *FirstRunVM {
	return &FirstRunVM{URL: binding.NewString(), CAFile: binding.NewString(), Message: binding.NewString(),
		Level: binding.NewInt(), Busy: binding.NewBool(), userFile: userFile, opts: opts, now: time.Now,
		timeout: FirstRunCheckTimeout, apiMin: client.MinAPIVersion, apiMax: client.MaxAPIVersion}
}

// CheckedService is an address that passed the check.
type CheckedService struct {
	URL   string        // the base URL, normalised
	CAPEM []byte        // the CA to pin (nil: the system's roots)
	About renewal.About // what the service said
}

// ErrFirstRunBusy: a check is running already.
var ErrFirstRunBusy = errors.New("a check is running")

// firstRunError is a refusal, with the words shown.
type firstRunError struct {
	text string
	err  error
}

func (e *firstRunError) Error() string {
	if e.err != nil {
		return e.text + ": " + e.err.Error()
	}
	return e.text
}

func (e *firstRunError) Unwrap() error { return e.err }

// Edited forgets the last check's outcome: the address or the CA changed.
func (vm *FirstRunVM) Edited() {
	if busy, _ := vm.Busy.Get(); !busy {
		_ = vm.Message.Set("")
	}
}

// Check checks the address and the CA file: a well-formed address (a
// missing scheme means https://; plain http only to this computer), a
// readable CA file of CA certificates valid now, a server that answers, a
// renewal service (GET /v1/about), an API version this client speaks.
// Message says the outcome; nothing is written.
func (vm *FirstRunVM) Check(ctx context.Context) (CheckedService, error) {
	if !vm.running.TryLock() {
		return CheckedService{}, ErrFirstRunBusy
	}
	defer vm.running.Unlock()
	_ = vm.Busy.Set(true)
	defer func() { _ = vm.Busy.Set(false) }()
	svc, err := vm.check(ctx)
	if err != nil {
		var fe *firstRunError
		text := err.Error()
		if errors.As(err, &fe) {
			text = fe.text
		}
		vm.say(text, LevelError)
		return CheckedService{}, err
	}
	vm.say(lang.X("firstrun.ok", "连接成功：{{.Host}}是证书续期服务（renewd版本{{.Version}}，接口版本{{.API}}）。",
		map[string]any{"Host": hostOf(svc.URL), "Version": svc.About.Version, "API": svc.About.APIVersion}), LevelOK)
	return svc, nil
}

// Save checks (as Check), then writes the user's config file with the
// address and the CA, and returns a signed-out account of the service.
func (vm *FirstRunVM) Save(ctx context.Context) (*Account, error) {
	svc, err := vm.Check(ctx)
	if err != nil {
		return nil, err
	}
	if vm.userFile == "" {
		err := errors.New("no user config folder")
		vm.say(lang.X("firstrun.no_user_dir", "无法确定保存设置的位置（本机用户没有配置文件夹）。请让管理员在本机配置续期服务地址。"), LevelError)
		return nil, err
	}
	if err := config.SaveUserFile(vm.userFile, svc.URL, svc.CAPEM); err != nil {
		vm.say(lang.X("firstrun.save_failed", "无法保存设置：{{.File}}（{{.Err}}）", map[string]any{"File": vm.userFile, "Err": err}), LevelError)
		return nil, fmt.Errorf("save %s: %w", vm.userFile, err)
	}
	opts := append([]client.Option{}, vm.opts...)
	if svc.CAPEM != nil {
		opts = append(opts, client.WithCA(svc.CAPEM))
	}
	acc, err := NewAccount(svc.URL, nil, opts...)
	if err != nil {
		vm.say(err.Error(), LevelError)
		return nil, err
	}
	return acc, nil
}

func (vm *FirstRunVM) say(text string, lvl Level) {
	_ = vm.Level.Set(int(lvl))
	_ = vm.Message.Set(text)
}

func (vm *FirstRunVM) check(ctx context.Context) (CheckedService, error) {
	raw, _ := vm.URL.Get()
	base, err := firstRunURL(raw)
	if err != nil {
		return CheckedService{}, err
	}
	caPath, _ := vm.CAFile.Get()
	caPEM, err := firstRunCA(caPath, vm.now())
	if err != nil {
		return CheckedService{}, err
	}
	host := hostOf(base)
	vm.say(lang.X("firstrun.checking", "正在连接{{.Host}}……", map[string]any{"Host": host}), LevelNotice)
	opts := append([]client.Option{}, vm.opts...)
	opts = append(opts, client.WithTimeout(vm.timeout), client.WithRetry(0, time.Millisecond, time.Millisecond))
	if caPEM != nil {
		opts = append(opts, client.WithCA(caPEM))
	}
	c, err := client.New(base, opts...)
	if err != nil {
		return CheckedService{}, &firstRunError{text: lang.X("firstrun.bad_url", "“{{.URL}}”不是有效的网址。请填写CA提供的续期服务地址，例如：https://renew.example-ca.cn", map[string]any{"URL": raw}), err: err}
	}
	about, err := c.About(ctx)
	if err == nil {
		err = client.CheckAPIVersion(about, vm.apiMin, vm.apiMax)
	}
	if err != nil {
		return CheckedService{}, &firstRunError{text: reachText(err, base, caPEM != nil), err: err}
	}
	return CheckedService{URL: base, CAPEM: caPEM, About: about}, nil
}

// firstRunURL normalises an address as typed: spaces trimmed, https://
// when no scheme is given, no trailing slash. It refuses what cannot be a
// service's base URL, and plain http except to this computer (the service
// takes bearer tokens).
func firstRunURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", &firstRunError{text: lang.X("firstrun.empty", "请填写续期服务地址（由CA提供），例如：https://renew.example-ca.cn")}
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	bad := &firstRunError{text: lang.X("firstrun.bad_url", "“{{.URL}}”不是有效的网址。请填写CA提供的续期服务地址，例如：https://renew.example-ca.cn", map[string]any{"URL": raw})}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Hostname() == "" || len(s) > client.MaxBaseURL:
		return "", bad
	case u.Scheme != "https" && u.Scheme != "http":
		return "", &firstRunError{text: lang.X("firstrun.scheme", "续期服务地址应以https://开头（现在是{{.Scheme}}://）。", map[string]any{"Scheme": u.Scheme})}
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", &firstRunError{text: lang.X("firstrun.plain", "只需填写服务的网址本身，不要带用户名、“?”或“#”后面的部分。")}
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return "", &firstRunError{text: lang.X("firstrun.http", "为保护登录信息，续期服务必须使用https://地址（http://只用于本机测试）。请改为：https://{{.Host}}", map[string]any{"Host": u.Host})}
	}
	return strings.TrimRight(s, "/"), nil
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// firstRunCA reads and checks the CA file at path ("" for none): its
// certificates as PEM.
func firstRunCA(path string, now time.Time) ([]byte, error) {
	path = strings.Trim(strings.TrimSpace(path), `"`) // Windows' "Copy as path" quotes it
	if path == "" {
		return nil, nil
	}
	file := map[string]any{"File": path}
	data, err := config.ReadCAFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &firstRunError{text: lang.X("firstrun.ca_missing", "找不到CA证书文件：{{.File}}", file), err: err}
	case err != nil:
		return nil, &firstRunError{text: lang.X("firstrun.ca_unreadable", "无法读取CA证书文件：{{.File}}（{{.Err}}）", map[string]any{"File": path, "Err": err}), err: err}
	}
	out, err := config.CheckCA(data, now)
	switch {
	case errors.Is(err, config.ErrCAPrivateKey):
		return nil, &firstRunError{text: lang.X("firstrun.ca_key", "所选文件含有私钥，不能使用。请选择CA的根证书文件（不含私钥），并妥善保管含私钥的文件。"), err: err}
	case errors.Is(err, config.ErrCANotCA):
		return nil, &firstRunError{text: lang.X("firstrun.ca_not_ca", "所选文件是网站（服务器）证书，不是CA证书。请选择签发它的CA根证书。"), err: err}
	case errors.Is(err, config.ErrCAExpired):
		return nil, &firstRunError{text: lang.X("firstrun.ca_expired", "所选的CA证书已过期或尚未生效。请检查本机日期，或向CA索取新的证书。"), err: err}
	case err != nil:
		return nil, &firstRunError{text: lang.X("firstrun.ca_not_cert", "所选文件不是证书文件。请选择CA提供的根证书（.pem、.crt或.cer）。"), err: err}
	}
	return out, nil
}

// hostOf is the host:port of a base URL, as the clerk names it.
func hostOf(base string) string {
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		return u.Host
	}
	return base
}

// wsaeConnRefused is Windows' "connection refused" (WSAECONNREFUSED).
const wsaeConnRefused = syscall.Errno(10061)

// reachText says why a check failed: the service's version, another
// server, the name, the connection, TLS, the time it took.
func reachText(err error, base string, pinned bool) string {
	host := hostOf(base)
	h := map[string]any{"Host": host}
	var (
		ver       *client.APIVersionError
		notRenewd *client.NotRenewdError
		api       *client.APIError
		dns       *net.DNSError
		unknownCA x509.UnknownAuthorityError
		wrongHost x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
		netErr    net.Error
	)
	switch {
	case errors.As(err, &ver) && ver.ServiceOlder():
		return lang.X("firstrun.api_old", "{{.Host}}的续期服务版本较旧（renewd版本{{.Version}}，接口版本{{.Service}}），本程序需要接口版本{{.Range}}。请联系CA升级续期服务，或使用与之配套的旧版证书续期助手。",
			map[string]any{"Host": host, "Version": ver.Service.Version, "Service": ver.Service.APIVersion, "Range": ver.Range()})
	case errors.As(err, &ver):
		return lang.X("firstrun.api_new", "{{.Host}}的续期服务较新（renewd版本{{.Version}}，接口版本{{.Service}}），本程序只支持接口版本{{.Range}}。请安装最新版证书续期助手（向CA索取）。",
			map[string]any{"Host": host, "Version": ver.Service.Version, "Service": ver.Service.APIVersion, "Range": ver.Range()})
	case errors.As(err, &notRenewd) && notRenewd.Status == http.StatusBadRequest && strings.HasPrefix(base, "http://"):
		return lang.X("firstrun.wants_https", "{{.Host}}只接受加密连接：请把地址改为以https://开头。", h)
	case errors.As(err, &notRenewd) && notRenewd.Page:
		return lang.X("firstrun.web_page", "{{.Host}}返回的是一个网页，不是证书续期服务。请核对CA提供的续期服务地址（包括端口和路径）。", h)
	case errors.As(err, &notRenewd):
		return lang.X("firstrun.not_renewd", "{{.Host}}有回应（HTTP状态码{{.Status}}），但不是证书续期服务。请核对CA提供的续期服务地址（包括端口和路径）。",
			map[string]any{"Host": host, "Status": notRenewd.Status})
	case errors.As(err, &api):
		return lang.X("firstrun.unavailable", "{{.Host}}暂时无法提供服务（HTTP状态码{{.Status}}），请稍后再检查；如果一直如此，请联系CA。",
			map[string]any{"Host": host, "Status": api.Status})
	case errors.As(err, &dns) && !dns.IsTimeout:
		return lang.X("firstrun.dns", "找不到服务器{{.Host}}：请检查地址是否拼写正确，以及本机能否上网。", map[string]any{"Host": dns.Name})
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, wsaeConnRefused):
		return lang.X("firstrun.refused", "{{.Host}}拒绝连接：这个地址和端口上没有运行续期服务。请核对地址和端口，或联系CA确认服务正在运行。", h)
	case errors.As(err, &unknownCA) && pinned:
		return lang.X("firstrun.tls_other_ca", "{{.Host}}的HTTPS证书不是所选CA证书签发的。请确认选择了这个服务的CA证书文件。", h)
	case errors.As(err, &unknownCA):
		return lang.X("firstrun.tls_unknown_ca", "{{.Host}}的HTTPS证书不是本机信任的机构签发的。如果CA提供了根证书文件，请在下面选择它，然后再检查。", h)
	case errors.As(err, &wrongHost):
		return lang.X("firstrun.tls_host", "{{.Host}}的HTTPS证书不属于这个地址。请核对地址是否与CA提供的完全一致。", h)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return lang.X("firstrun.tls_expired", "{{.Host}}的HTTPS证书已过期或尚未生效。请检查本机的日期和时间；如果正确，请联系CA。", h)
	case errors.As(err, &record) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"): // net/http's words for a RecordHeaderError
		return lang.X("firstrun.not_tls", "{{.Host}}不支持https://加密连接。请核对地址中的端口；如果是本机测试服务，请用http://。", h)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return lang.X("firstrun.timeout", "连接{{.Host}}超时。请检查网络；如果单位通过代理或防火墙上网，请让网络管理员放行这个地址。", h)
	case errors.Is(err, context.Canceled):
		return lang.X("err.cancelled", "操作已取消。")
	case errors.As(err, new(*tls.CertificateVerificationError)) || strings.Contains(err.Error(), "tls:"):
		return lang.X("firstrun.tls_other", "与{{.Host}}建立加密连接失败，请联系CA（{{.Err}}）。", map[string]any{"Host": host, "Err": err})
	}
	return lang.X("firstrun.unreachable", "无法连接{{.Host}}，请检查地址和网络（{{.Err}}）。", map[string]any{"Host": host, "Err": err})
}
