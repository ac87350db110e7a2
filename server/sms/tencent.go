package sms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	tcsms "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/sms/v20210111"
)

// TencentConfig configures the Tencent Cloud SMS adapter. SecretID and
// SecretKey are credentials: they come from the environment, never a log.
type TencentConfig struct {
	SecretID  string             `json:"-"`
	SecretKey string             `json:"-"`
	Region    string             `json:"region"`     // e.g. ap-guangzhou
	AppID     string             `json:"sdk_app_id"` // SmsSdkAppId
	SignName  string             `json:"sign_name"`  // approved signature, e.g. 某某CA
	Templates map[Purpose]string `json:"templates"`  // purpose -> TemplateId; template params: {1}=code, {2}=minutes; invoice (optional): {1}=link
	// Endpoint overrides the API host (tests: a local server); empty means
	// the SDK's default, sms.tencentcloudapi.com.
	Endpoint string `json:"endpoint,omitempty"`
	// Scheme is HTTPS unless set (tests use HTTP against a loopback server).
	Scheme string `json:"-"`
	// TimeoutSeconds bounds one request; 0 means 10.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// Tencent sends messages with Tencent Cloud SMS.
type Tencent struct {
	cfg    TencentConfig
	client *tcsms.Client
}

// NewTencent builds the adapter; transport may be nil.
func NewTencent(cfg TencentConfig, transport http.RoundTripper) (*Tencent, error) {
	if cfg.SecretID == "" || cfg.SecretKey == "" {
		return nil, errors.New("sms: tencent: secret id and key are required")
	}
	if cfg.Region == "" || cfg.AppID == "" || cfg.SignName == "" {
		return nil, errors.New("sms: tencent: region, sdk_app_id and sign_name are required")
	}
	for _, p := range []Purpose{PurposeSignIn, PurposePhoneCheck} {
		if cfg.Templates[p] == "" {
			return nil, fmt.Errorf("sms: tencent: no template for purpose %q", p)
		}
	}
	cp := profile.NewClientProfile()
	cp.HttpProfile.Endpoint = cfg.Endpoint
	if cfg.Scheme != "" {
		cp.HttpProfile.Scheme = cfg.Scheme
	}
	cp.HttpProfile.ReqTimeout = cfg.TimeoutSeconds
	if cp.HttpProfile.ReqTimeout <= 0 {
		cp.HttpProfile.ReqTimeout = 10
	}
	cp.Language = "zh-CN"
	client, err := tcsms.NewClient(common.NewCredential(cfg.SecretID, cfg.SecretKey), cfg.Region, cp)
	if err != nil {
		return nil, fmt.Errorf("sms: tencent: %w", err)
	}
	if transport != nil {
		client.WithHttpTransport(transport)
	}
	return &Tencent{cfg: cfg, client: client}, nil
}

// Send implements Sender.
func (t *Tencent) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	if t.cfg.Templates[m.Purpose] == "" {
		return fmt.Errorf("%w: no template for purpose %q", ErrRejected, m.Purpose)
	}
	req := tcsms.NewSendSmsRequest()
	req.SetContext(ctx)
	req.SmsSdkAppId = common.StringPtr(t.cfg.AppID)
	req.SignName = common.StringPtr(t.cfg.SignName)
	req.TemplateId = common.StringPtr(t.cfg.Templates[m.Purpose])
	req.PhoneNumberSet = common.StringPtrs([]string{"+86" + m.Mobile})
	req.TemplateParamSet = common.StringPtrs([]string{m.Code, strconv.Itoa(m.TTLMinutes)})
	if m.Purpose == PurposeInvoice {
		req.TemplateParamSet = common.StringPtrs([]string{m.Link})
	}
	resp, err := t.client.SendSms(req)
	if err != nil {
		var se *tcerrors.TencentCloudSDKError
		if errors.As(err, &se) && !strings.HasPrefix(se.Code, "ClientError.") {
			// The SDK's error carries code and message only, never the request body.
			return fmt.Errorf("%w: %s: %s", ErrRejected, se.Code, se.Message)
		}
		return fmt.Errorf("sms: tencent: %w", err)
	}
	if resp.Response == nil || len(resp.Response.SendStatusSet) != 1 {
		return errors.New("sms: tencent: response without a send status")
	}
	st := resp.Response.SendStatusSet[0]
	if st.Code == nil || *st.Code != "Ok" {
		code, msg := "", ""
		if st.Code != nil {
			code = *st.Code
		}
		if st.Message != nil {
			msg = *st.Message
		}
		return fmt.Errorf("%w: %s: %s", ErrRejected, code, msg)
	}
	return nil
}
