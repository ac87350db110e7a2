package server

import (
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func (s *Server) finVerifyStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.apps.FinVerifyStatus(r.Context(), s.caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) finVerifyStart(w http.ResponseWriter, r *http.Request) error {
	var req renewal.VersionRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	return s.writeTransfer(w)(s.apps.StartFinVerify(r.Context(), s.caller(r), r.PathValue("id"), req))
}

func (s *Server) finVerifyBank(w http.ResponseWriter, r *http.Request) error {
	var req renewal.CorrectBankRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	return s.writeTransfer(w)(s.apps.CorrectBank(r.Context(), s.caller(r), r.PathValue("id"), req))
}

// writeTransfer answers a verification transfer sent: its status, with the
// application's new version as the ETag.
func (s *Server) writeTransfer(w http.ResponseWriter) func(renewal.FinVerifyStatus, int64, error) error {
	return func(st renewal.FinVerifyStatus, version int64, err error) error {
		if err != nil {
			return err
		}
		w.Header().Set("ETag", etag(version))
		writeJSON(w, http.StatusOK, st)
		return nil
	}
}

func (s *Server) finVerifyCode(w http.ResponseWriter, r *http.Request) error {
	var req renewal.FinVerifyCodeRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	a, err := s.apps.SubmitFinVerifyCode(r.Context(), s.caller(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	writeApplication(w, http.StatusOK, a)
	return nil
}
