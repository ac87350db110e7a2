package renewal

// The service's self-description, GET /v1/about: what a client asks first,
// to tell a renewal service from any other server at an address and to
// know whether the two speak the same API. It is public and holds nothing
// secret: no configuration, no host names, no counts.

// Product is what a renewal service answers as its product.
const Product = "renewd"

// APIVersion is the version of this API. It goes up only when a change
// would break a client built for the one before (a field removed or
// renamed, a rule a client relies on changed); additions keep it.
const APIVersion = 1

// MaxAboutVersion is the longest program version About carries, in bytes.
const MaxAboutVersion = 64

// About is the answer of GET /v1/about.
type About struct {
	Product    string `json:"product"`     // always Product
	APIVersion int    `json:"api_version"` // the API version the service speaks
	Version    string `json:"version"`     // the service's program version, e.g. "0.1.0"
}

// Validate checks an answer: Product, an API version from 1, and a version
// of 1 to MaxAboutVersion printable ASCII characters without spaces.
func (a *About) Validate() error {
	var fe fieldErrors
	if a.Product != Product {
		fe.add("product", invalid(CodeInvalidField, "product is %q, not %q", a.Product, Product))
	}
	if a.APIVersion < 1 {
		fe.add("api_version", invalid(CodeInvalidField, "api_version %d: want 1 or more", a.APIVersion))
	}
	if !aboutVersionOK(a.Version) {
		fe.add("version", invalid(CodeInvalidField, "version: want 1 to %d printable ASCII characters without spaces", MaxAboutVersion))
	}
	return fe.err()
}

func aboutVersionOK(v string) bool {
	if v == "" || len(v) > MaxAboutVersion {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}
