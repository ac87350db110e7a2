package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ukeyrenew/ukeyrenew/server/jobs"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// The jobs commands show operators the background jobs that need them:
//
//	renewd jobs [--limit N] [--config FILE | --dev --data DIR]   counts by kind and state, then the failed jobs
//	renewd jobs retry ID [--config FILE | --dev --data DIR]     run a discarded or cancelled job again, now
//
// A failed job is one discarded after its last attempt, cancelled, or
// failing now and waiting for its next attempt (retryable); each is listed
// with its attempts, its last error and its arguments (order and refund
// numbers: no secrets are ever a job's arguments).

const jobsUsage = "usage: renewd jobs [--limit N] | renewd jobs retry ID  [--config FILE | --dev --data DIR]"

func runJobs(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	retry := len(args) > 0 && args[0] == "retry"
	if retry {
		args = args[1:]
	}
	fs := flag.NewFlagSet("renewd jobs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.register(fs)
	limit := fs.Int("limit", 100, fmt.Sprintf("list at most this many failed jobs (1..%d)", jobs.MaxListed))
	var id int64
	if retry {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return errors.New(jobsUsage + ": retry needs the job's ID (the first column of renewd jobs)")
		}
		var err error
		if id, err = strconv.ParseInt(args[0], 10, 64); err != nil || id <= 0 {
			return fmt.Errorf("%s: job ID %q is not a positive number", jobsUsage, args[0])
		}
		args = args[1:]
	}
	st, err := openForAdmin(ctx, fs, &o, args, env)
	if err != nil {
		return err
	}
	defer st.Close()
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", jobsUsage, fs.Arg(0))
	}
	if !retry && (*limit < 1 || *limit > jobs.MaxListed) {
		return fmt.Errorf("--limit %d: want 1..%d", *limit, jobs.MaxListed)
	}
	d := jobs.SQLite
	if st.Dialect() == store.Postgres {
		d = jobs.Postgres
	}
	if err := jobs.Current(ctx, st.DB(), d); err != nil {
		return fmt.Errorf("%w (start renewd once to create the job tables)", err)
	}
	q, err := jobs.New(ctx, st.DB(), d, jobs.Config{})
	if err != nil {
		return err
	}
	if retry {
		j, err := q.Client().JobRetry(ctx, id)
		if err != nil {
			return fmt.Errorf("retry job %d: %w", id, err)
		}
		fmt.Fprintf(stdout, "job %d (%s) is %s: a running renewd works it now\n", j.ID, j.Kind, j.State)
		return nil
	}
	counts, err := q.Counts(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSTATE\tJOBS")
	for _, c := range counts {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Kind, c.State, c.N)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	failed, err := q.Failed(ctx, *limit)
	if err != nil {
		return err
	}
	if len(failed) == 0 {
		fmt.Fprintln(stdout, "\nno failed jobs")
		return nil
	}
	fmt.Fprintf(stdout, "\nfailed jobs (newest first, at most %d):\n", *limit)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATE\tATTEMPTS\tLAST ATTEMPT\tARGS\tLAST ERROR")
	for _, j := range failed {
		last, at := "", ""
		if n := len(j.Errors); n > 0 {
			last = oneLine(j.Errors[n-1].Error)
		}
		if j.AttemptedAt != nil {
			at = j.AttemptedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", j.ID, j.Kind, j.State, j.Attempt, j.MaxAttempts, at, string(j.EncodedArgs), last)
	}
	return tw.Flush()
}

// oneLine keeps an error on its row: newlines and tabs become spaces, and
// a long one is cut at 200 characters.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
