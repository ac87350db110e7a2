package renewdtest

import (
	"context"
	"sync"

	"github.com/ukeyrenew/ukeyrenew/server/invoice"
)

// FlakyIssuer is the development e-invoice issuer, except that it fails
// with the error given to Fail until Fail(nil). Set Dev.Now (the Renewd's
// Clock.Now) before the first invoice.
type FlakyIssuer struct {
	Dev invoice.DevIssuer
	mu  sync.Mutex
	err error
}

// NewFlakyIssuer returns an issuer that works until told to fail.
func NewFlakyIssuer() *FlakyIssuer {
	return &FlakyIssuer{Dev: invoice.DevIssuer{Seller: invoice.Seller{Name: "测试数字认证中心", TaxID: "91440300MA5000000T"}}}
}

// Fail makes every later Issue fail with err (nil: issue again).
func (f *FlakyIssuer) Fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// Issue issues the invoice, or fails as Fail said.
func (f *FlakyIssuer) Issue(ctx context.Context, r invoice.Request) (invoice.Issued, error) {
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return invoice.Issued{}, err
	}
	return f.Dev.Issue(ctx, r)
}
