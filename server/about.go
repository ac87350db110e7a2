package server

import (
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Version is renewd's program version, set at link time by
// scripts/package.sh (-ldflags "-X github.com/ukeyrenew/ukeyrenew/server.Version=0.1.0");
// "dev" in a development build.
var Version = "dev"

// about answers GET /v1/about: the product, the API version and the
// program version, so a client can tell that an address is a renewal
// service it can talk to. Nothing in it is secret.
func (s *Server) about(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, renewal.About{Product: renewal.Product, APIVersion: renewal.APIVersion, Version: Version})
	return nil
}
