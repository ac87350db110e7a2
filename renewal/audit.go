package renewal

import (
	"encoding/json"
	"time"
)

// Audit wire types: the hash-chained audit log.

// AuditEntry is one row of the hash-chained audit log.
type AuditEntry struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"`
	Actor    string          `json:"actor"`  // user id, or "system"
	Action   string          `json:"action"` // e.g. "application.submit"
	Target   string          `json:"target"` // e.g. "application/ID"
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
	IP       string          `json:"ip,omitempty"`
	PrevHash string          `json:"prev_hash"` // hex
	Hash     string          `json:"hash"`      // hex SHA-256
	// WorkstationID is the counter workstation the action was taken at
	// (by a clerk signed in there, or by the workstation itself).
	WorkstationID string `json:"workstation_id,omitempty"`
	// RecordVersion says how Hash is computed: 1 for rows written before
	// workstation ids were recorded (0, absent, reads as 1), 2 with the
	// workstation id in the hashed content.
	RecordVersion int `json:"record_version"`
}

// AuditQuery filters the audit log. GET /v1/audit
type AuditQuery struct {
	Target string `json:"target,omitempty"`
	Actor  string `json:"actor,omitempty"`
	// WorkstationID keeps the entries of one counter workstation.
	WorkstationID string    `json:"workstation_id,omitempty"`
	Since         time.Time `json:"since,omitempty"`
	Until         time.Time `json:"until,omitempty"`
	AfterSeq      int64     `json:"after_seq,omitempty"`
	PageSize      int       `json:"page_size,omitempty"`
}

// Validate checks the query and fills in the default page size.
func (q *AuditQuery) Validate() error {
	var fe fieldErrors
	q.Target, q.Actor = NormalizeLine(q.Target), NormalizeLine(q.Actor)
	fe.add("target", ValidateText(q.Target, 200))
	fe.add("actor", ValidateText(q.Actor, 200))
	fe.add("workstation_id", ValidateText(q.WorkstationID, 200))
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		fe.add("until", invalid(CodeInvalidField, "until is before since"))
	}
	if q.AfterSeq < 0 {
		fe.add("after_seq", invalid(CodeInvalidField, "after_seq is not negative"))
	}
	fe.add("page_size", validatePageSize(&q.PageSize, MaxAuditPageSize))
	return fe.err()
}

// AuditVerification is the result of checking the chain.
type AuditVerification struct {
	OK      bool   `json:"ok"`
	Entries int64  `json:"entries"`
	BadSeq  int64  `json:"bad_seq,omitempty"` // first row that does not verify
	Problem string `json:"problem,omitempty"`
}
