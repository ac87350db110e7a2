package invoice_test

import (
	"context"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/server/invoice"
)

// go test -run '^$' -bench . ./server/invoice/
func BenchmarkDevIssuer(b *testing.B) {
	d := &invoice.DevIssuer{Seller: invoice.Seller{Name: "测试数字认证有限公司", TaxID: "91440300MA5000001R"}, Now: func() time.Time { return at }}
	ctx := context.Background()
	for b.Loop() {
		if _, err := d.Issue(ctx, request()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLinkCheck(b *testing.B) {
	l, _ := invoice.NewLinks([]byte("0123456789abcdef0123"))
	tok := l.Token("app1", "26327000000012345678", at.Add(time.Hour))
	for b.Loop() {
		if err := l.Check("app1", "26327000000012345678", tok, at); err != nil {
			b.Fatal(err)
		}
	}
}
