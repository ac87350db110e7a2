package invoice

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/server/formpdf"
)

// Request is what an invoice is issued for.
type Request struct {
	ApplicationID string
	Title         string // buyer (发票抬头)
	TaxID         string // buyer's taxpayer ID
	Email         string
	Phone         string
	AmountFen     int64 // total including VAT (价税合计)
	Years         int
	CertSerial    string
}

// Validate checks a request before it reaches a platform.
func (r Request) Validate() error {
	switch {
	case r.ApplicationID == "":
		return errors.New("invoice: no application id")
	case strings.TrimSpace(r.Title) == "" || r.TaxID == "":
		return errors.New("invoice: title and taxpayer id are required")
	case r.AmountFen <= 0 || r.AmountFen > MaxAmountFen:
		return fmt.Errorf("invoice: amount of %d fen out of 1..%d", r.AmountFen, MaxAmountFen)
	}
	return nil
}

// MaxAmountFen bounds an invoice's amount (100,000 CNY: far above any
// certificate's price; a wrong amount stops here, not at the tax bureau).
const MaxAmountFen = 100_000_00

// MaxPDFBytes bounds the PDF an Issuer may return.
const MaxPDFBytes = 2 << 20

// Issued is an issued invoice.
type Issued struct {
	Number   string // 发票号码
	PDF      []byte
	IssuedAt time.Time
}

// Issuer issues VAT ordinary e-invoices.
type Issuer interface {
	Issue(ctx context.Context, r Request) (Issued, error)
}

// ErrRejected means the platform refused the request (wrong buyer details,
// quota): asking again with the same details will not help.
var ErrRejected = errors.New("invoice: rejected by the platform")

// Seller is the CA as the invoice's seller (销售方).
type Seller struct {
	Name  string
	TaxID string
}

// VATRatePermille is the VAT rate of certificate services (信息技术服务, 6%).
const VATRatePermille = 60

// DevIssuer issues invoices locally: a real PDF with the layout of a VAT
// ordinary e-invoice, marked as a development invoice, numbered from the
// clock and a random part. It has no legal value; production uses an
// adapter for an e-invoice platform.
type DevIssuer struct {
	Seller Seller
	Now    func() time.Time
}

// Issue implements Issuer.
func (d *DevIssuer) Issue(ctx context.Context, r Request) (Issued, error) {
	if err := ctx.Err(); err != nil {
		return Issued{}, err
	}
	if err := r.Validate(); err != nil {
		return Issued{}, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	at := now()
	n, err := rand.Int(rand.Reader, big.NewInt(1e8))
	if err != nil {
		return Issued{}, fmt.Errorf("invoice number: %w", err)
	}
	// 20 digits as the fully digitalised invoices have: year, day of year
	// and seconds of the day, then 8 random digits.
	beijing := at.In(time.FixedZone("CST", 8*3600))
	secs := beijing.Hour()*3600 + beijing.Minute()*60 + beijing.Second()
	number := fmt.Sprintf("%02d%03d%05d%02d%08d", beijing.Year()%100, beijing.YearDay(), secs, 0, n.Int64())
	pdf := formpdf.Render(layout(d.Seller, r, number, beijing))
	return Issued{Number: number, PDF: pdf, IssuedAt: at}, nil
}

// Split returns the amount before tax and the tax of a total including VAT
// at VATRatePermille, rounded to the fen as the tax bureau does (the tax is
// the remainder, so the two add up to the total).
func Split(totalFen int64) (netFen, taxFen int64) {
	netFen = (totalFen*1000*2 + (1000 + VATRatePermille)) / (2 * (1000 + VATRatePermille))
	return netFen, totalFen - netFen
}

func yuan(fen int64) string { return fmt.Sprintf("¥%d.%02d", fen/100, fen%100) }

func layout(s Seller, r Request, number string, at time.Time) formpdf.Form {
	net, tax := Split(r.AmountFen)
	return formpdf.Form{
		Title:    "电子发票（普通发票）",
		Subtitle: "开发环境发票，无法律效力 · development invoice, no legal value",
		Sections: []formpdf.Section{
			{Title: "发票信息", Lines: []formpdf.Line{
				{Label: "发票号码", Value: number},
				{Label: "开票日期", Value: at.Format("2006年01月02日")},
			}},
			{Title: "购买方信息", Lines: []formpdf.Line{
				{Label: "名称", Value: r.Title},
				{Label: "统一社会信用代码/纳税人识别号", Value: r.TaxID},
			}},
			{Title: "销售方信息", Lines: []formpdf.Line{
				{Label: "名称", Value: s.Name},
				{Label: "统一社会信用代码/纳税人识别号", Value: s.TaxID},
			}},
			{Title: "项目", Lines: []formpdf.Line{
				{Label: "项目名称", Value: fmt.Sprintf("*信息技术服务*数字证书续期服务费（%d年）", r.Years)},
				{Label: "证书序列号", Value: r.CertSerial},
				{Label: "金额", Value: yuan(net)},
				{Label: "税率", Value: fmt.Sprintf("%d%%", VATRatePermille/10)},
				{Label: "税额", Value: yuan(tax)},
				{Label: "价税合计", Value: yuan(r.AmountFen)},
			}},
		},
		Footer: "申请编号 " + r.ApplicationID,
	}
}
