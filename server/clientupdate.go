package server

import (
	"fmt"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// checkClientReleases validates the announced client releases: known
// platforms, and each release as renewal.ClientRelease.Validate says (http
// on a loopback address only with Dev).
func checkClientReleases(cfg *Config) error {
	for p, r := range cfg.ClientReleases {
		if !p.Valid() {
			return fmt.Errorf("server: client release for platform %q: one of windows-x64, windows-x86, linux-amd64-deb", p)
		}
		if err := r.Validate(cfg.Dev); err != nil {
			return fmt.Errorf("server: client release %s: %w", p, err)
		}
	}
	return nil
}

// clientUpdate answers GET /v1/client/update?platform=…&version=…: public
// (a release is no secret; the per-address rate limit applies), and the
// same answer to every caller of a platform and version.
func (s *Server) clientUpdate(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := renewal.ClientUpdateRequest{Platform: renewal.ClientPlatform(q.Get("platform")), Version: q.Get("version")}
	if err := req.Validate(); err != nil {
		return err
	}
	cur, _ := renewal.ParseVersion(req.Version)
	out := renewal.ClientUpdate{}
	if rel, ok := s.cfg.ClientReleases[req.Platform]; ok {
		out = rel.Offer(cur)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}
