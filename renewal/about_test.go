package renewal

import (
	"strings"
	"testing"
)

// Only a renewal service's own answer passes: the product, an API version
// from 1, a short printable version; each wrong field is named.
func TestAboutValidate(t *testing.T) {
	ok := About{Product: Product, APIVersion: APIVersion, Version: "0.1.0"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a good answer: %v", err)
	}
	for name, c := range map[string]struct {
		a     About
		field string
	}{
		"another product":    {About{Product: "nginx", APIVersion: 1, Version: "1"}, "product"},
		"no product":         {About{APIVersion: 1, Version: "1"}, "product"},
		"api version 0":      {About{Product: Product, Version: "1"}, "api_version"},
		"api version -1":     {About{Product: Product, APIVersion: -1, Version: "1"}, "api_version"},
		"no version":         {About{Product: Product, APIVersion: 1}, "version"},
		"version with space": {About{Product: Product, APIVersion: 1, Version: "1 beta"}, "version"},
		"version not ASCII":  {About{Product: Product, APIVersion: 1, Version: "版本1"}, "version"},
		"version too long":   {About{Product: Product, APIVersion: 1, Version: strings.Repeat("9", MaxAboutVersion+1)}, "version"},
	} {
		err := c.a.Validate()
		if err == nil || AsError(err).FieldError(c.field) == nil {
			t.Errorf("%s: %v, want an error about %s", name, err, c.field)
		}
	}
	long := About{Product: Product, APIVersion: 1, Version: strings.Repeat("9", MaxAboutVersion)}
	if err := long.Validate(); err != nil {
		t.Errorf("a version of %d bytes: %v", MaxAboutVersion, err)
	}
}
