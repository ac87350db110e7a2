package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// devReviewer is --dev-auto-review: a bot that, through the service's own
// API, signs in as the demo reviewer and approves every application waiting
// for review, and pays every live QR code at the WeChat Pay (or Alipay)
// simulator as if the clerk had scanned it (POST /dev/applications/{id}/pay:
// the money still arrives as a signed notification, through the code
// production runs), so a demo of the desktop client needs no second person
// and no phone.
type devReviewer struct {
	base   string
	every  time.Duration
	log    *slog.Logger
	client *http.Client
	token  string
}

func (d *devReviewer) call(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	res, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return res.StatusCode, err
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		return res.StatusCode, json.Unmarshal(data, out)
	}
	return res.StatusCode, nil
}

func (d *devReviewer) signIn(ctx context.Context) error {
	d.token = ""
	var t renewal.Tokens
	if _, err := d.call(ctx, "POST", "/v1/auth/login", renewal.PasswordLoginRequest{Account: DemoReviewer, Password: DemoReviewerPass}, &t); err != nil {
		return err
	}
	d.token = t.AccessToken
	return nil
}

// round approves what waits and pays the live QR codes.
func (d *devReviewer) round(ctx context.Context) error {
	if d.token == "" {
		if err := d.signIn(ctx); err != nil {
			return err
		}
	}
	var q renewal.ApplicationPage
	st, err := d.call(ctx, "GET", "/v1/review/queue?page_size=100", nil, &q)
	if st == http.StatusUnauthorized {
		d.token = ""
		return nil
	}
	if err != nil {
		return err
	}
	for _, a := range q.Items {
		if a.Status != renewal.StatusPendingReview {
			continue
		}
		var out renewal.Application
		if _, err := d.call(ctx, "POST", "/v1/applications/"+a.ID+"/approve", renewal.ReviewRequest{Version: a.Version, Reason: "dev auto-review"}, &out); err != nil {
			return err
		}
		d.log.Info("dev auto-review approved", "application", a.ID)
	}
	var unpaid renewal.ApplicationPage
	if _, err := d.call(ctx, "GET", "/v1/applications?payment=unpaid&page_size=100", nil, &unpaid); err != nil {
		return err
	}
	for _, a := range unpaid.Items {
		if a.Status == renewal.StatusCancelled {
			continue
		}
		// 409: no live QR code (the clerk has not asked for one yet).
		st, err := d.call(ctx, "POST", "/dev/applications/"+a.ID+"/pay", nil, nil)
		if st == http.StatusConflict {
			continue
		}
		if err != nil {
			return err
		}
		d.log.Info("dev auto-review paid the QR code at the simulator", "application", a.ID)
	}
	return nil
}

func (d *devReviewer) run(ctx context.Context) {
	t := time.NewTicker(d.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.round(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("dev auto-review", "err", err.Error())
			}
		}
	}
}
