#!/usr/bin/env bash
# Sets up and runs UKey Renew on this machine: builds the programs, creates the demo UKey
# in SoftHSM2, and shows it through ukeyctl. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
mkdir -p bin
go build -o bin/ukeyctl ./cmd/ukeyctl
eval "$(bash scripts/demo-token.sh)"
echo "== ukeyctl modules"; bin/ukeyctl modules
echo "== ukeyctl tokens";  bin/ukeyctl tokens
echo "== ukeyctl certs";   bin/ukeyctl certs
cat <<TXT

The demo UKey lives in $SOFTHSM2_CONF (user PIN 12345678). Try:
  export SOFTHSM2_CONF=$SOFTHSM2_CONF
  bin/ukeyctl watch        # insert/remove events
  bin/ukeyctl certs --json
TXT
