// Command tsa is a time-stamping authority (RFC 3161) for tests, on
// loopback only: scripts/package-check.sh points osslsigncode's -ts at it so
// that the installers' signatures carry a timestamp. See internal/tsatest.
//
//	tsa -cert tsa.pem -key tsa.key [-listen 127.0.0.1:0] [-url-file FILE]
//
// It writes its URL (http://127.0.0.1:PORT/) to -url-file once it listens,
// logs one line per answer to stderr, and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/tsatest"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("tsa: ")
	certFile := flag.String("cert", "", "PEM file: the TSA certificate (extendedKeyUsage critical, timeStamping only), then its issuers")
	keyFile := flag.String("key", "", "PEM file: the TSA certificate's private key")
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on (port 0: a free one)")
	urlFile := flag.String("url-file", "", "write the TSA's URL to this file once it listens")
	flag.Parse()
	if *certFile == "" || *keyFile == "" || flag.NArg() != 0 {
		log.Fatal("usage: tsa -cert tsa.pem -key tsa.key [-listen 127.0.0.1:0] [-url-file FILE]")
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("-listen %s: give a loopback IP address and port, e.g. 127.0.0.1:0 (a test TSA serves no network)", *listen)
	}
	tsa, err := tsatest.Load(*certFile, *keyFile, tsatest.Options{Logf: log.Printf})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	url := fmt.Sprintf("http://%s/", ln.Addr())
	if *urlFile != "" {
		// Written whole, then renamed: a reader never sees half a URL.
		tmp := filepath.Join(filepath.Dir(*urlFile), "."+filepath.Base(*urlFile)+".tmp")
		if err := os.WriteFile(tmp, []byte(url+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(tmp, *urlFile); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("serving %s", url)
	srv := &http.Server{Handler: tsa, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
