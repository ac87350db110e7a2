package renewal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Code names an error that client and server both understand. Codes are
// numbered by their position in the codes table below and travel on the wire
// by name.
type Code int

// The error codes. APPEND-ONLY: do not reorder, do not delete, add new codes
// at the end (and to the codes table in the same order).
const (
	CodeUnknown Code = iota
	CodeInternal
	CodeInvalidRequest // the request as a whole is malformed (bad JSON, unknown field)
	CodeInvalidField   // one field is wrong; Field says which
	CodeRequired
	CodeTooLong
	CodeCreditCode
	CodeIDNumber
	CodeMobile
	CodeEmail
	CodeBankAccount
	CodeTaxID
	CodeYears
	CodeAddress
	CodeUnauthenticated
	CodeForbidden
	CodeNotFound
	CodeStaleVersion
	CodeActionNotAllowed
	CodeSMSCodeWrong
	CodeSMSCodeExpired
	CodeSMSTooSoon
	CodeSMSDailyLimit
	CodeSMSTooManyTries
	CodeBadCredentials
	CodeTokenExpired
	CodeTokenRevoked
	CodeRateLimited
	CodeNotEligible
	CodeWindowNotOpen
	CodeWindowClosed
	CodeDocumentTooLarge
	CodeDocumentType
	CodeFinVerifyCodeWrong
	CodeFinVerifyTooManyTries
	CodeChallengeExpired
	CodeProofInvalid
	CodeCSRInvalid
	CodeRekeyRequired
	CodeNotIssued
	CodeConflict
	CodeBodyTooLarge
	CodeReasonRequired
	CodePaymentRequired
	CodeFinVerifyCode
	CodeIDBirthDate
	CodePageToken
	CodeLinkExpired
	CodeTextCharacter // free text holds a character a reader would not see as stored
	CodeSuperseded
	CodeOrgMismatch
	CodeBusy
	CodePriceLocked  // paid: the renewal period (and so the price) can no longer change
	CodePaymentShort // the amount paid is below the application's price
	CodeNotYetValid  // the certificate's validity has not begun
	codeEnd          // keep last
)

// CodeInfo is what the table knows about a code.
type CodeInfo struct {
	Name   string // wire name, snake_case
	Status int    // HTTP status the server answers with
	Field  string // the field it concerns by default ("" for none)
	EN     string
	ZH     string
}

var codes = [...]CodeInfo{
	CodeUnknown:               {"unknown", http.StatusInternalServerError, "", "unknown error", "未知错误"},
	CodeInternal:              {"internal", http.StatusInternalServerError, "", "internal error, please try again later", "服务内部错误，请稍后重试"},
	CodeInvalidRequest:        {"invalid_request", http.StatusBadRequest, "", "the request is malformed", "请求格式错误"},
	CodeInvalidField:          {"invalid_field", http.StatusBadRequest, "", "a field is invalid", "字段填写有误"},
	CodeRequired:              {"required", http.StatusBadRequest, "", "this field is required", "此项为必填项"},
	CodeTooLong:               {"too_long", http.StatusBadRequest, "", "this field is too long", "内容过长"},
	CodeCreditCode:            {"credit_code", http.StatusBadRequest, "organisation.credit_code", "not a valid unified social credit code", "统一社会信用代码无效，请对照营业执照核对"},
	CodeIDNumber:              {"id_number", http.StatusBadRequest, "legal_representative.id_number", "not a valid resident ID number", "身份证号码无效，请对照身份证核对"},
	CodeMobile:                {"mobile", http.StatusBadRequest, "mobile", "not a valid mainland mobile number", "手机号码无效，请输入 11 位手机号码"},
	CodeEmail:                 {"email", http.StatusBadRequest, "invoice.email", "not a valid e-mail address", "电子邮箱地址无效"},
	CodeBankAccount:           {"bank_account", http.StatusBadRequest, "bank.account_number", "not a valid bank account number", "银行账号无效"},
	CodeTaxID:                 {"tax_id", http.StatusBadRequest, "invoice.tax_id", "not a valid taxpayer ID", "纳税人识别号无效"},
	CodeYears:                 {"years", http.StatusBadRequest, "years", "renewal period must be 1 to 3 years", "续期年限须为1至3年"},
	CodeAddress:               {"address", http.StatusBadRequest, "pickup.address", "not a usable postal address", "邮寄地址无效"},
	CodeUnauthenticated:       {"unauthenticated", http.StatusUnauthorized, "", "please sign in", "请先登录"},
	CodeForbidden:             {"forbidden", http.StatusForbidden, "", "you may not do this", "无权执行此操作"},
	CodeNotFound:              {"not_found", http.StatusNotFound, "", "not found", "未找到"},
	CodeStaleVersion:          {"stale_version", http.StatusConflict, "version", "changed by someone else meanwhile; reload and try again", "内容已被他人修改，请刷新后重试"},
	CodeActionNotAllowed:      {"action_not_allowed", http.StatusConflict, "", "not allowed in the application's current state", "当前状态下不允许此操作"},
	CodeSMSCodeWrong:          {"sms_code_wrong", http.StatusUnauthorized, "code", "wrong verification code", "验证码错误，请核对短信中的 6 位验证码"},
	CodeSMSCodeExpired:        {"sms_code_expired", http.StatusUnauthorized, "code", "the verification code has expired; ask for a new one", "验证码已过期，请重新获取"},
	CodeSMSTooSoon:            {"sms_too_soon", http.StatusTooManyRequests, "mobile", "please wait before asking for another code", "请稍后再获取验证码"},
	CodeSMSDailyLimit:         {"sms_daily_limit", http.StatusTooManyRequests, "mobile", "too many codes today; try again tomorrow", "今日获取验证码次数已达上限"},
	CodeSMSTooManyTries:       {"sms_too_many_tries", http.StatusUnauthorized, "code", "too many wrong codes; ask for a new one", "验证码错误次数过多，请重新获取"},
	CodeBadCredentials:        {"bad_credentials", http.StatusUnauthorized, "password", "wrong account or password", "账号或密码错误"},
	CodeTokenExpired:          {"token_expired", http.StatusUnauthorized, "", "session expired; please sign in again", "登录已过期，请重新登录"},
	CodeTokenRevoked:          {"token_revoked", http.StatusUnauthorized, "", "session ended; please sign in again", "登录已失效，请重新登录"},
	CodeRateLimited:           {"rate_limited", http.StatusTooManyRequests, "", "too many requests; slow down", "请求过于频繁，请稍后重试"},
	CodeNotEligible:           {"not_eligible", http.StatusUnprocessableEntity, "serial", "this certificate cannot be renewed here", "该证书不能在此续期"},
	CodeWindowNotOpen:         {"window_not_open", http.StatusUnprocessableEntity, "serial", "too early: renewal opens closer to expiry", "尚未到续期时间"},
	CodeWindowClosed:          {"window_closed", http.StatusUnprocessableEntity, "serial", "expired too long ago to renew; apply for a new certificate", "证书过期时间过长，无法续期，请重新申请"},
	CodeDocumentTooLarge:      {"document_too_large", http.StatusRequestEntityTooLarge, "document", "the file is too large", "文件过大"},
	CodeDocumentType:          {"document_type", http.StatusUnsupportedMediaType, "document", "only PDF, JPEG and PNG files are accepted", "仅支持PDF、JPEG、PNG文件"},
	CodeFinVerifyCodeWrong:    {"finverify_code_wrong", http.StatusUnprocessableEntity, "code", "wrong transfer code", "打款验证码错误"},
	CodeFinVerifyTooManyTries: {"finverify_too_many_tries", http.StatusUnprocessableEntity, "code", "too many wrong codes; check the bank account and resubmit", "验证码错误次数过多，请核对银行账户后重新提交"},
	CodeChallengeExpired:      {"challenge_expired", http.StatusUnprocessableEntity, "nonce", "the challenge expired or was used; ask for a new one", "挑战码已过期或已使用，请重新获取"},
	CodeProofInvalid:          {"proof_invalid", http.StatusUnprocessableEntity, "signature", "the signature does not prove possession of the key", "签名验证失败，无法证明持有密钥"},
	CodeCSRInvalid:            {"csr_invalid", http.StatusUnprocessableEntity, "csr", "the certificate request is invalid", "证书请求无效"},
	CodeRekeyRequired:         {"rekey_required", http.StatusUnprocessableEntity, "mode", "this CA requires a new key pair", "该CA要求更换密钥对"},
	CodeNotIssued:             {"not_issued", http.StatusConflict, "", "the certificate has not been issued yet", "证书尚未签发"},
	CodeConflict:              {"conflict", http.StatusConflict, "", "already exists", "已存在"},
	CodeBodyTooLarge:          {"body_too_large", http.StatusRequestEntityTooLarge, "", "the request is too large", "请求内容过大"},
	CodeReasonRequired:        {"reason_required", http.StatusBadRequest, "reason", "a reason is required", "请填写原因"},
	CodePaymentRequired:       {"payment_required", http.StatusPaymentRequired, "", "please pay first", "请先完成支付"},
	CodeFinVerifyCode:         {"finverify_code", http.StatusBadRequest, "code", "the transfer code is 6 digits", "打款验证码为6位数字"},
	CodeIDBirthDate:           {"id_birth_date", http.StatusBadRequest, "legal_representative.id_number", "the birth date in the ID number is not a real date", "身份证号码中的出生日期（第7至14位）不是真实的日期，请核对号码"},
	CodePageToken:             {"page_token", http.StatusBadRequest, "page_token", "invalid page token", "分页标记无效"},
	CodeLinkExpired:           {"link_expired", http.StatusGone, "", "the link has expired; open it again from the app for a new one", "链接已过期，请在客户端中重新打开"},
	CodeTextCharacter:         {"text_character", http.StatusBadRequest, "", "the text holds an invisible, control or unreadable character", "含有不可见字符、控制字符或乱码，请删除后重新输入"},
	CodeSuperseded:            {"superseded", http.StatusUnprocessableEntity, "serial", "this certificate was renewed already; renew its successor when it is due", "此证书已续期，请使用新证书"},
	CodeOrgMismatch:           {"organisation_mismatch", http.StatusUnprocessableEntity, "organisation.name", "the organisation differs from the one the certificate is registered to; if it was renamed, ask the CA to update the registration first", "与证书登记的单位不一致，请改回证书登记的单位；单位已更名的，请先联系发证机构变更登记"},
	CodeBusy:                  {"busy", http.StatusServiceUnavailable, "", "the service is busy; please try again shortly", "服务繁忙，请稍后重试"},
	CodePriceLocked:           {"price_locked", http.StatusConflict, "form.years", "the application is paid: the renewal period and its price can no longer be changed; cancel it (refunded) and apply again for another period", "申请已支付，续期年限不能再更改，请改回已支付的年限；如需其他年限，请取消申请（费用退回）后重新申请"},
	CodePaymentShort:          {"payment_short", http.StatusPaymentRequired, "form.years", "the amount paid is less than the price of the renewal period: change the period back to the one paid for", "已付金额低于所选续期年限的价格，请将续期年限改回已支付的年限"},
	CodeNotYetValid:           {"not_yet_valid", http.StatusUnprocessableEntity, "serial", "the certificate is not valid yet: it can be renewed once it is", "证书尚未生效，生效后方可续期"},
}

// Codes returns every code in table order, for docs and tests.
func Codes() []Code {
	out := make([]Code, 0, int(codeEnd))
	for c := Code(0); c < codeEnd; c++ {
		out = append(out, c)
	}
	return out
}

// CodesMarkdown renders the code table for the docs.
func CodesMarkdown() string {
	var b strings.Builder
	b.WriteString("| # | code | HTTP | field | en | zh-CN |\n|---|---|---|---|---|---|\n")
	for _, c := range Codes() {
		ci := c.Info()
		field := ci.Field
		if field == "" {
			field = "—"
		}
		fmt.Fprintf(&b, "| %d | `%s` | %d | %s | %s | %s |\n", int(c), ci.Name, ci.Status, field, ci.EN, ci.ZH)
	}
	return b.String()
}

// Info returns the table row of c (the CodeUnknown row for a code this build
// does not know, such as one added by a newer server).
func (c Code) Info() CodeInfo {
	if c < 0 || c >= codeEnd {
		return codes[CodeUnknown]
	}
	return codes[c]
}

// String returns the wire name.
func (c Code) String() string { return c.Info().Name }

// HTTPStatus returns the status the server answers with.
func (c Code) HTTPStatus() int { return c.Info().Status }

// MarshalText writes the wire name.
func (c Code) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a wire name; an unknown name becomes CodeUnknown rather
// than an error, so an older client can still read a newer server's errors.
func (c *Code) UnmarshalText(b []byte) error {
	*c = CodeByName(string(b))
	return nil
}

// CodeByName looks a code up by its wire name (CodeUnknown if none).
func CodeByName(name string) Code {
	for i, ci := range codes {
		if ci.Name == name {
			return Code(i)
		}
	}
	return CodeUnknown
}

// Error is the error both sides use. On the wire it is the JSON body
// {"code", "field", "message", "message_zh", "fields"}. Fields holds
// field-level errors when a whole request is refused (Code is then
// CodeInvalidField).
type Error struct {
	Code      Code     `json:"code"`
	Field     string   `json:"field,omitempty"`
	Message   string   `json:"message"`
	MessageZH string   `json:"message_zh,omitempty"`
	Fields    []*Error `json:"fields,omitempty"`
	Err       error    `json:"-"` // cause, never sent
}

// NewError makes an *Error for code with the table's messages and the given
// field ("" keeps the table's default field).
func NewError(code Code, field string) *Error {
	ci := code.Info()
	if field == "" {
		field = ci.Field
	}
	return &Error{Code: code, Field: field, Message: ci.EN, MessageZH: ci.ZH}
}

// Errorf makes an *Error whose English message is more specific than the
// table's; the zh message stays the table's.
func Errorf(code Code, field, format string, args ...any) *Error {
	e := NewError(code, field)
	e.Message = fmt.Sprintf(format, args...)
	return e
}

// Wrap makes an *Error for code with cause err kept for errors.Is/As.
func Wrap(code Code, err error) *Error {
	e := NewError(code, "")
	e.Err = err
	return e
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code.String())
	if e.Field != "" {
		b.WriteString(" (")
		b.WriteString(e.Field)
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code (fields are not
// compared), so errors.Is(err, NewError(CodeStaleVersion, "")) works across
// the wire. Use FieldError to ask about a field.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// HTTPStatus returns the status the server answers with.
func (e *Error) HTTPStatus() int { return e.Code.HTTPStatus() }

// Localized returns the message in lang ("zh..." gives Chinese, else English).
func (e *Error) Localized(lang string) string {
	if strings.HasPrefix(strings.ToLower(lang), "zh") {
		if e.MessageZH != "" {
			return e.MessageZH
		}
		return e.Code.Info().ZH
	}
	if e.Message != "" {
		return e.Message
	}
	return e.Code.Info().EN
}

// FieldError returns the first error (the error itself or one of its Fields)
// about field, or nil.
func (e *Error) FieldError(field string) *Error {
	if e == nil {
		return nil
	}
	for _, f := range e.Fields {
		if f.Field == field {
			return f
		}
	}
	if e.Field == field && len(e.Fields) == 0 {
		return e
	}
	return nil
}

// CodeOf returns the code of the *Error in err's chain, CodeUnknown for any
// other non-nil error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeUnknown
}

// AsError returns the *Error in err's chain, or wraps err as CodeInternal
// (the message then stays generic: causes are never sent).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Wrap(CodeInternal, err)
}

// MarshalJSON is the default encoding; defined to document that Err is not sent.
func (e *Error) MarshalJSON() ([]byte, error) {
	type wire Error
	return json.Marshal((*wire)(e))
}

// fieldErrors collects field-level errors while validating a request.
type fieldErrors struct{ list []*Error }

func (fe *fieldErrors) add(prefix string, err error) {
	if err == nil {
		return
	}
	e := AsError(err)
	if prefix != "" {
		if len(e.Fields) > 0 {
			for _, f := range e.Fields {
				g := *f
				g.Field = joinField(prefix, f.Field)
				fe.list = append(fe.list, &g)
			}
			return
		}
		g := *e
		g.Field = joinField(prefix, e.Field)
		e = &g
	}
	if len(e.Fields) > 0 {
		fe.list = append(fe.list, e.Fields...)
		return
	}
	fe.list = append(fe.list, e)
}

func joinField(prefix, field string) string {
	if field == "" {
		return prefix
	}
	return prefix + "." + field
}

// err returns nil, or one *Error with code CodeInvalidField listing them all.
func (fe *fieldErrors) err() error {
	if len(fe.list) == 0 {
		return nil
	}
	e := NewError(CodeInvalidField, "")
	if len(fe.list) == 1 {
		e.Field = fe.list[0].Field
	}
	e.Fields = fe.list
	return e
}
