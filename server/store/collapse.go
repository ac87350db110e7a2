package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Collapsed audit rows, shared by every replica. Some audited events can
// be caused by anyone at the rate of the request limiter (a refused
// counter session, an invoice download): an event is audited at most once
// a window per key; the events in between are counted and the count is
// written with the key's next row ("suppressed"), or by
// FlushCollapsedAudit once the window has ended. Beyond maxKeys keys
// tracked at once, events of new keys are counted per action and written
// as one row a minute. Each decision is one conditional statement, and a
// row is written in the same transaction as the count it carries: no
// event is counted twice or lost, however many replicas see them.

// CollapseKey names a kind of collapsed event.
type CollapseKey struct{ Action, Target, Source, Reason string }

// overflowSource marks the row counting the events beyond the tracked keys
// of an action (no source is "*").
const overflowSource = "*"

// collapseSet is the window step of a key: within its window the event is
// counted, else it is written (prior: the count it carries) and opens a
// new window with its change and details. $1 now, $2 the new window's end,
// $3 its length, $4 actor, $5 ip, $6 workstation, $7 details.
const collapseSet = `
	suppressed = CASE WHEN audit_collapse.window_end > $1 THEN audit_collapse.suppressed + 1 ELSE 0 END,
	prior = CASE WHEN audit_collapse.window_end > $1 THEN 0 ELSE audit_collapse.suppressed END,
	written = CASE WHEN audit_collapse.window_end > $1 THEN 0 ELSE 1 END,
	window_us = CASE WHEN audit_collapse.window_end > $1 THEN audit_collapse.window_us ELSE $3 END,
	actor = CASE WHEN audit_collapse.window_end > $1 THEN audit_collapse.actor ELSE $4 END,
	ip = CASE WHEN audit_collapse.window_end > $1 THEN audit_collapse.ip ELSE $5 END,
	workstation = CASE WHEN audit_collapse.window_end > $1 THEN audit_collapse.workstation ELSE $6 END,
	after = CASE WHEN audit_collapse.window_end > $1 THEN audit_collapse.after ELSE $7 END,
	window_end = CASE WHEN audit_collapse.window_end > $1 THEN audit_collapse.window_end ELSE $2 END`

// AuditCollapsed audits the event (ch, k.Target, after) unless a row of k
// was written within window: then it is counted, for k's next row. It
// says whether a row was written.
func (s *Store) AuditCollapsed(ctx context.Context, k CollapseKey, window time.Duration, maxKeys int, ch Change, after map[string]any) (bool, error) {
	if k.Source == overflowSource {
		return false, fmt.Errorf("collapsed audit: source %q: %w", k.Source, ErrInvalid)
	}
	a, err := json.Marshal(after)
	if err != nil {
		return false, fmt.Errorf("collapsed audit: %w", err)
	}
	var written bool
	err = s.Write(ctx, func(tx *Tx) error {
		written = false
		now := micros(tx.now)
		args := []any{now, now + window.Microseconds(), window.Microseconds(), ch.Actor, ch.IP, ch.WorkstationID, string(a),
			k.Action, k.Target, k.Source, k.Reason}
		var w int
		var prior int64
		err := tx.q.QueryRowContext(ctx, `UPDATE audit_collapse SET `+collapseSet+`
			WHERE action = $8 AND target = $9 AND source = $10 AND reason = $11 RETURNING written, prior`, args...).Scan(&w, &prior)
		if errors.Is(mapErr(err), ErrNotFound) {
			var keys int
			if err := tx.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_collapse WHERE source <> $1`, overflowSource).Scan(&keys); err != nil {
				return fmt.Errorf("collapsed audit: %w", mapErr(err))
			}
			if keys >= maxKeys {
				target, _, _ := strings.Cut(k.Action, ".")
				_, err := tx.q.ExecContext(ctx, `INSERT INTO audit_collapse (action, target, source, reason, window_end, window_us, actor, ip,
					workstation, after, suppressed, prior, written) VALUES ($1, $2, $3, '', $4, $5, 'system', '', '', '{}', 1, 0, 0)
					ON CONFLICT (action, target, source, reason) DO UPDATE SET suppressed = audit_collapse.suppressed + 1`,
					k.Action, target, overflowSource, now, time.Minute.Microseconds())
				return mapErr(err)
			}
			err = tx.q.QueryRowContext(ctx, `INSERT INTO audit_collapse (window_end, window_us, actor, ip, workstation, after,
				action, target, source, reason, suppressed, prior, written) VALUES ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 0, 1)
				ON CONFLICT (action, target, source, reason) DO UPDATE SET `+collapseSet+` RETURNING written, prior`, args...).Scan(&w, &prior)
		}
		if err != nil {
			return fmt.Errorf("collapsed audit: %w", mapErr(err))
		}
		if w == 0 {
			return nil
		}
		written = true
		if prior != 0 {
			b := map[string]any{"suppressed": prior}
			for f, v := range after {
				b[f] = v
			}
			after = b
		}
		return tx.Audit(ch, k.Target, nil, after)
	})
	return written, err
}

// FlushCollapsedAudit writes the counts of collapsed events whose window
// has ended (each row opens a window of its own) and forgets the keys
// whose window ended quietly. maxKeys is the bound the overflow rows
// name. It is safe to run at any time, on any number of replicas at once.
func (s *Store) FlushCollapsedAudit(ctx context.Context, maxKeys int) error {
	for {
		now := micros(s.now())
		type due struct {
			k                    CollapseKey
			end, window, n       int64
			actor, ip, ws, after string
		}
		rows, err := s.w.QueryContext(ctx, `SELECT action, target, source, reason, window_end, window_us, suppressed, actor, ip, workstation, after
			FROM audit_collapse WHERE window_end <= $1 ORDER BY window_end LIMIT $2`, now, CleanupBatch)
		if err != nil {
			return fmt.Errorf("flush collapsed audit: %w", mapErr(err))
		}
		var ds []due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.k.Action, &d.k.Target, &d.k.Source, &d.k.Reason, &d.end, &d.window, &d.n, &d.actor, &d.ip, &d.ws, &d.after); err != nil {
				rows.Close()
				return fmt.Errorf("flush collapsed audit: %w", mapErr(err))
			}
			ds = append(ds, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("flush collapsed audit: %w", mapErr(err))
		}
		var errs []error
		for _, d := range ds {
			// Each step is conditional on what was read: an event that came
			// meanwhile, or another replica's flush, makes it do nothing.
			where := `WHERE action = $1 AND target = $2 AND source = $3 AND reason = $4 AND window_end = $5 AND suppressed = $6`
			pk := []any{d.k.Action, d.k.Target, d.k.Source, d.k.Reason, d.end, d.n}
			if d.n == 0 {
				if _, err := s.w.ExecContext(ctx, `DELETE FROM audit_collapse `+where, pk...); err != nil {
					errs = append(errs, fmt.Errorf("flush collapsed audit: %w", mapErr(err)))
				}
				continue
			}
			errs = append(errs, s.Write(ctx, func(tx *Tx) error {
				res, err := tx.q.ExecContext(ctx, `UPDATE audit_collapse SET suppressed = 0, window_end = $7 `+where,
					append(pk, micros(tx.now)+d.window)...)
				if err != nil {
					return fmt.Errorf("flush collapsed audit: %w", mapErr(err))
				}
				if n, _ := res.RowsAffected(); n == 0 {
					return nil
				}
				if d.k.Source == overflowSource {
					return tx.Audit(Change{Actor: "system", Action: d.k.Action}, d.k.Target, nil, map[string]any{"suppressed": d.n,
						"detail": fmt.Sprintf("%d events from sources beyond the %d tracked at once", d.n, maxKeys)})
				}
				after := map[string]any{}
				if err := json.Unmarshal([]byte(d.after), &after); err != nil {
					return fmt.Errorf("flush collapsed audit: details of %s: %w", d.k.Action, err)
				}
				after["suppressed"] = d.n
				after["detail"] = fmt.Sprintf("%d more of this kind from this source", d.n)
				return tx.Audit(Change{Actor: d.actor, IP: d.ip, Action: d.k.Action, WorkstationID: d.ws}, d.k.Target, nil, after)
			}))
		}
		if err := errors.Join(errs...); err != nil || len(ds) < CleanupBatch {
			return err
		}
	}
}
