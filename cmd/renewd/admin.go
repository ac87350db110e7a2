package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// The administration commands set up what the API does not create:
// organisations, users (clerks are tied to an organisation; reviewers and
// admins are CA staff) and the certificates the CA issued before renewd.
//
//	renewd org add --name NAME --credit-code CODE
//	renewd org rename --id ORG_ID --name NEW_NAME
//	renewd user add --role clerk|reviewer|admin --name NAME [--mobile M] [--account A] [--org ORG_ID] [--password-stdin]
//	renewd cert add --org ORG_ID FILE.pem...
//
// A password is read from standard input, never from the command line
// (which other users see in the process list). Every change is audited
// with the actor "cli".

func openForAdmin(ctx context.Context, fs *flag.FlagSet, o *options, args []string, env func(string) string) (*store.Store, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var c Config
	if o.dev {
		c = defaultConfig()
		c.Database.Driver, c.Database.Path = "sqlite", o.data+"/renewd.db"
	} else {
		if o.config == "" {
			return nil, errors.New("--config FILE or --dev --data DIR is required")
		}
		var err error
		if c, err = loadConfig(o.config, env); err != nil {
			return nil, err
		}
	}
	return openStore(ctx, c)
}

func cliChange(action string) store.Change { return store.Change{Actor: "cli", Action: action} }

func runOrg(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) > 0 && args[0] == "rename" {
		return runOrgRename(ctx, args[1:], stderr, env)
	}
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: renewd org add --name NAME --credit-code CODE | renewd org rename --id ORG_ID --name NEW_NAME [--config FILE | --dev --data DIR]")
	}
	fs := flag.NewFlagSet("renewd org add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.register(fs)
	name := fs.String("name", "", "registered name")
	code := fs.String("credit-code", "", "unified social credit code (18 characters)")
	st, err := openForAdmin(ctx, fs, &o, args[1:], env)
	if err != nil {
		return err
	}
	defer st.Close()
	org := renewal.Organisation{Name: renewal.NormalizeLine(*name), CreditCode: renewal.NormalizeCreditCode(*code)}
	if err := org.Validate(); err != nil {
		return err
	}
	rec := &store.Organisation{Name: org.Name, CreditCode: org.CreditCode}
	if err := st.CreateOrganisation(ctx, rec, cliChange("organisation.create")); err != nil {
		return err
	}
	fmt.Fprintln(stdout, rec.ID)
	return nil
}

// runOrgRename registers an organisation's new name: applications must
// name the organisation as registered, so a company that was renamed asks
// the CA to record the new name first.
func runOrgRename(ctx context.Context, args []string, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("renewd org rename", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.register(fs)
	id := fs.String("id", "", "organisation id")
	name := fs.String("name", "", "the new registered name")
	st, err := openForAdmin(ctx, fs, &o, args, env)
	if err != nil {
		return err
	}
	defer st.Close()
	n := strings.TrimSpace(*name)
	if err := renewal.ValidateName(n, renewal.MaxOrgNameRunes); err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	if err := st.RenameOrganisation(ctx, *id, n, cliChange("organisation.rename")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no organisation %q", *id)
		}
		return err
	}
	return nil
}

func runUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: renewd user add --role clerk|reviewer|admin --name NAME [--mobile M] [--account A] [--org ORG_ID] [--password-stdin]")
	}
	fs := flag.NewFlagSet("renewd user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.register(fs)
	role := fs.String("role", "", "clerk, reviewer or admin")
	name := fs.String("name", "", "the person's name")
	mobile := fs.String("mobile", "", "mainland mobile (SMS sign-in)")
	account := fs.String("account", "", "account name (password sign-in)")
	org := fs.String("org", "", "organisation id (clerks)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	st, err := openForAdmin(ctx, fs, &o, args[1:], env)
	if err != nil {
		return err
	}
	defer st.Close()
	u := &store.User{Role: renewal.Role(*role), Name: renewal.NormalizeLine(*name), Mobile: renewal.NormalizeMobile(*mobile),
		Account: renewal.NormalizeLine(*account), OrganisationID: *org}
	var errs []error
	if u.Role != renewal.RoleClerk && !u.Role.IsStaff() {
		errs = append(errs, fmt.Errorf("--role %q: clerk, reviewer or admin", *role))
	}
	if err := renewal.ValidateName(u.Name, renewal.MaxNameRunes); err != nil {
		errs = append(errs, fmt.Errorf("--name: %w", err))
	}
	if u.Mobile != "" {
		if err := renewal.ValidateMobile(u.Mobile); err != nil {
			errs = append(errs, fmt.Errorf("--mobile: %w", err))
		}
	}
	if u.Account != "" {
		if err := renewal.ValidateName(u.Account, renewal.MaxAccountRunes); err != nil {
			errs = append(errs, fmt.Errorf("--account: %w", err))
		}
	}
	if u.Mobile == "" && u.Account == "" {
		errs = append(errs, errors.New("--mobile or --account is required to sign in"))
	}
	if u.Account != "" && !*pwStdin {
		errs = append(errs, errors.New("an --account needs --password-stdin"))
	}
	if u.Role == renewal.RoleClerk {
		if u.OrganisationID == "" {
			errs = append(errs, errors.New("a clerk needs --org"))
		} else if _, err := st.Organisation(ctx, u.OrganisationID); err != nil {
			errs = append(errs, fmt.Errorf("--org %s: %w", u.OrganisationID, err))
		}
	} else if u.OrganisationID != "" {
		errs = append(errs, errors.New("CA staff belong to no organisation: drop --org"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if *pwStdin {
		line, err := bufio.NewReader(io.LimitReader(stdin, auth.MaxPasswordBytes+2)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		pw := strings.TrimRight(line, "\r\n")
		if len(pw) < 12 {
			return errors.New("the password needs at least 12 bytes")
		}
		if u.PasswordHash, err = auth.NewHasher().Hash(ctx, pw); err != nil {
			return err
		}
	}
	if err := st.CreateUser(ctx, u, cliChange("user.create")); err != nil {
		return err
	}
	fmt.Fprintln(stdout, u.ID)
	return nil
}

func runCert(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: renewd cert add --org ORG_ID FILE.pem... [--config FILE | --dev --data DIR]")
	}
	fs := flag.NewFlagSet("renewd cert add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.register(fs)
	org := fs.String("org", "", "organisation the certificates belong to")
	st, err := openForAdmin(ctx, fs, &o, args[1:], env)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Organisation(ctx, *org); err != nil {
		return fmt.Errorf("--org %q: %w", *org, err)
	}
	if fs.NArg() == 0 {
		return errors.New("name at least one PEM file")
	}
	for _, f := range fs.Args() {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		certs, err := issuer.ParseCertificatesPEM(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, c := range certs {
			rec := certRecord(c, *org)
			if err := st.PutCertificate(ctx, rec, cliChange("certificate.register")); err != nil {
				return err
			}
			fmt.Fprintln(stdout, rec.Serial)
		}
	}
	return nil
}
