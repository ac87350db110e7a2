package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// MaxOpenAPI bounds the OpenAPI document answer.
const MaxOpenAPI = 1 << 20

// Healthy checks that the service is alive. GET /healthz.
func (c *Client) Healthy(ctx context.Context) error { return c.plain(ctx, "/healthz") }

// Ready checks that the service can reach its database: a 503 is the
// answer (an *APIError), not retried. GET /readyz.
func (c *Client) Ready(ctx context.Context) error { return c.plain(ctx, "/readyz") }

func (c *Client) plain(ctx context.Context, path string) error {
	r, err := c.newRequest(http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	r.auth, r.accept, r.maxBody, r.noRetry = false, "text/plain", 1<<10, true
	_, err = c.call(ctx, r, nil)
	return err
}

// OpenAPI returns the service's OpenAPI document. GET /v1/openapi.yaml.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	r, err := c.newRequest(http.MethodGet, "/v1/openapi.yaml", nil)
	if err != nil {
		return nil, err
	}
	r.auth, r.accept, r.maxBody = false, "application/yaml", MaxOpenAPI
	res, err := c.call(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	return res.body, nil
}

func jsonOf(v any) ([]byte, error) { return json.Marshal(v) }
