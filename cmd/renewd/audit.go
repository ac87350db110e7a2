package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ukeyrenew/ukeyrenew/server/store"
)

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return errors.New("usage: renewd audit verify|export [--format csv|json] [--out FILE] [--config FILE | --dev --data DIR]")
	}
	cmd := args[0]
	fs := flag.NewFlagSet("renewd audit "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.register(fs)
	format := fs.String("format", "json", "export format: csv or json")
	out := fs.String("out", "", "export to this file instead of standard output")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var c Config
	if o.dev {
		c = defaultConfig()
		c.Database.Driver, c.Database.Path = "sqlite", o.data+"/renewd.db"
		if _, err := os.Stat(c.Database.Path); err != nil {
			return fmt.Errorf("no dev database in %s: %w", o.data, err)
		}
	} else {
		if o.config == "" {
			return errors.New("--config FILE or --dev --data DIR is required")
		}
		var err error
		if c, err = loadConfig(o.config, env); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	switch cmd {
	case "verify":
		v, err := st.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return err
		}
		if !v.OK {
			return fmt.Errorf("audit chain broken at entry %d: %s", v.BadSeq, v.Problem)
		}
		return nil
	default:
		w := stdout
		if *out != "" {
			f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		switch *format {
		case "csv":
			return st.ExportAuditCSV(ctx, w, store.AuditRange{})
		case "json":
			return st.ExportAuditJSON(ctx, w, store.AuditRange{})
		}
		return fmt.Errorf("--format %q: csv or json", *format)
	}
}
