package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// ClientUpdates is the config's client_update section: the current desktop
// client per platform (windows-x64, windows-x86, linux-amd64-deb), which
// GET /v1/client/update announces, e.g.
//
//	"client_update": {"windows-x64": {"version": "1.2.4",
//	  "url": "https://ca.example/dl/ukeyrenew-1.2.4-x64.msi",
//	  "sha256": "…64 hex…", "size": 12582912,
//	  "notes_zh": "…", "notes_en": "…", "minimum_version": "1.1.0"}}
type ClientUpdates map[renewal.ClientPlatform]renewal.ClientRelease

// validate names each wrong key as client_update.PLATFORM.KEY; dev lets a
// url be http on a loopback address.
func (c ClientUpdates) validate(dev bool) error {
	var errs []error
	keys := make([]renewal.ClientPlatform, 0, len(c))
	for p := range c {
		keys = append(keys, p)
	}
	slices.Sort(keys)
	for _, p := range keys {
		prefix := "client_update." + string(p)
		if !p.Valid() {
			errs = append(errs, fmt.Errorf("%s: unknown platform; use windows-x64, windows-x86 or linux-amd64-deb", prefix))
			continue
		}
		err := c[p].Validate(dev)
		e := renewal.AsError(err)
		if err == nil || e == nil {
			continue
		}
		list := e.Fields
		if len(list) == 0 {
			list = []*renewal.Error{e}
		}
		for _, f := range list {
			errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, f.Field, f.Message))
		}
	}
	return errors.Join(errs...)
}

// readClientUpdates reads --dev-client-update FILE: the client_update
// section alone, as a JSON object.
func readClientUpdates(file string) (ClientUpdates, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--dev-client-update: %w", err)
	}
	var c ClientUpdates
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("--dev-client-update %s: %w", file, err)
	}
	if err := c.validate(true); err != nil {
		return nil, fmt.Errorf("--dev-client-update %s: %w", file, err)
	}
	return c, nil
}
