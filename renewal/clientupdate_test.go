package renewal

import (
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, s := range []string{"1.2.3", "0.1.0", "10.20.30.40", "1.2.03"} {
		if _, err := ParseVersion(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "1", "1.2", "v1.2.3", "1.2.3-beta", "1.2.3.4.5", "1..3", "-1.2.3", "+1.2.3", "1.2.3 ", "1.2.1234567890",
		strings.Repeat("1.", 40) + "1"} {
		if _, err := ParseVersion(s); err == nil {
			t.Errorf("%q: accepted", s)
		} else if CodeOf(err) != CodeInvalidField {
			t.Errorf("%q: %v", s, err)
		}
	}
	v := func(s string) Version { x, _ := ParseVersion(s); return x }
	for _, c := range []struct {
		a, b string
		want int
	}{{"1.2.3", "1.2.3", 0}, {"1.2.3", "1.2.4", -1}, {"1.10.0", "1.9.9", 1}, {"1.2.3.1", "1.2.3", 1}, {"2.0.0", "1.99.99.99", 1}, {"1.2.3.0", "1.2.3", 0}} {
		if got := v(c.a).Compare(v(c.b)); got != c.want {
			t.Errorf("%s vs %s: %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if s := v("1.2.3.0").String(); s != "1.2.3" {
		t.Errorf("String %q", s)
	}
}

func goodRelease() ClientRelease {
	return ClientRelease{Version: "1.2.4", URL: "https://ca.example/dl/ukeyrenew-1.2.4-x64.msi", SHA256: strings.Repeat("ab", 32),
		Size: 12 << 20, NotesZH: "修复：拔出 UKey 后列表不刷新。", NotesEN: "Fix: the list did not refresh after a UKey was pulled."}
}

func TestClientReleaseValidate(t *testing.T) {
	if err := goodRelease().Validate(false); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field string
		edit  func(*ClientRelease)
	}{
		{"version", func(r *ClientRelease) { r.Version = "1.2" }},
		{"url", func(r *ClientRelease) { r.URL = "http://ca.example/x.msi" }},
		{"url", func(r *ClientRelease) { r.URL = "http://127.0.0.1:8080/x.msi" }}, // loopback only in dev
		{"url", func(r *ClientRelease) { r.URL = "ftp://ca.example/x.msi" }},
		{"url", func(r *ClientRelease) { r.URL = "/x.msi" }},
		{"url", func(r *ClientRelease) { r.URL = "" }},
		{"url", func(r *ClientRelease) { r.URL = "https://user:pw@ca.example/x.msi" }},
		{"sha256", func(r *ClientRelease) { r.SHA256 = strings.Repeat("ab", 31) }},
		{"sha256", func(r *ClientRelease) { r.SHA256 = strings.Repeat("zz", 32) }},
		{"size", func(r *ClientRelease) { r.Size = 0 }},
		{"size", func(r *ClientRelease) { r.Size = MaxClientInstallerBytes + 1 }},
		{"notes_zh", func(r *ClientRelease) { r.NotesZH = " " }},
		{"notes_en", func(r *ClientRelease) { r.NotesEN = strings.Repeat("x", MaxReleaseNotesRunes+1) }},
		{"notes_en", func(r *ClientRelease) { r.NotesEN = "bad\u200bchar" }},
		{"minimum_version", func(r *ClientRelease) { r.MinimumVersion = "x" }},
		{"minimum_version", func(r *ClientRelease) { r.MinimumVersion = "1.3.0" }},
	}
	for _, c := range cases {
		r := goodRelease()
		c.edit(&r)
		err := r.Validate(false)
		if err == nil {
			t.Errorf("%s: %+v accepted", c.field, r)
			continue
		}
		if e := AsError(err).FieldError(c.field); e == nil {
			t.Errorf("%s: error names another field: %v", c.field, err)
		}
	}
	r := goodRelease()
	r.URL = "http://127.0.0.1:8080/x.msi"
	if err := r.Validate(true); err != nil {
		t.Errorf("loopback http in dev: %v", err)
	}
	r.URL = "http://10.0.0.1/x.msi"
	if err := r.Validate(true); err == nil {
		t.Error("http on a LAN address accepted in dev")
	}
}

func TestClientReleaseOffer(t *testing.T) {
	r := goodRelease()
	r.SHA256 = strings.Repeat("AB", 32)
	r.MinimumVersion = "1.1.0"
	v := func(s string) Version { x, _ := ParseVersion(s); return x }
	if o := r.Offer(v("1.2.4")); o.Available {
		t.Errorf("same version offered: %+v", o)
	}
	if o := r.Offer(v("1.3.0")); o.Available {
		t.Errorf("older release offered to a newer client: %+v", o)
	}
	o := r.Offer(v("1.1.0"))
	if !o.Available || o.Required || o.Version != "1.2.4" || o.SHA256 != strings.Repeat("ab", 32) || o.Size != r.Size {
		t.Errorf("offer to 1.1.0: %+v", o)
	}
	if o := r.Offer(v("1.0.9")); !o.Available || !o.Required {
		t.Errorf("offer below the minimum: %+v", o)
	}
	if err := o.Validate(false); err != nil {
		t.Errorf("offer does not validate: %v", err)
	}
}

func TestClientUpdateRequestValidate(t *testing.T) {
	if err := (ClientUpdateRequest{Platform: PlatformWindowsX64, Version: "1.2.3"}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []ClientUpdateRequest{{"windows-arm64", "1.2.3"}, {"", "1.2.3"}, {PlatformLinuxDeb, ""}, {PlatformLinuxDeb, "latest"}} {
		if err := r.Validate(); err == nil || CodeOf(err) != CodeInvalidField {
			t.Errorf("%+v: %v", r, err)
		}
	}
}
