#!/usr/bin/env bash
# The project's test command: the one the README gives and .ci/run runs.
# It installs the real clients some tests drive (python3, curl, swaks, isync)
# and the servers some tests run (OpenLDAP's slapd; Dovecot's IMAP server,
# the reference of a differential test; Postfix, which a test runs in a
# config directory of its own to deliver over LMTP),
# when it can; a test whose client is still missing skips and says why.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

want=()
command -v python3 >/dev/null || want+=(python3)
command -v curl >/dev/null || want+=(curl)
command -v swaks >/dev/null || want+=(swaks)
command -v mbsync >/dev/null || want+=(isync)
[ -x /usr/lib/dovecot/imap ] || want+=(dovecot-imapd)
[ -x /usr/sbin/postfix ] || want+=(postfix)
[ -x /usr/sbin/slapd ] || want+=(slapd ldap-utils)
if [ ${#want[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing test clients: ${want[*]}"
    (timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq "${want[@]}" >/dev/null) \
      || echo "could not install ${want[*]}; the tests that need them will skip"
  else
    echo "not root or no apt-get: tests needing ${want[*]} will skip"
  fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== staticcheck"
staticcheck=$(command -v staticcheck || echo "$(go env GOPATH)/bin/staticcheck")
if [ ! -x "$staticcheck" ]; then
  timeout 300 go install honnef.co/go/tools/cmd/staticcheck@v0.8.2 || echo "could not install staticcheck; skipping it"
fi
if [ -x "$staticcheck" ]; then
  "$staticcheck" ./...
fi
echo "== go test -race"
# One package at a time: the integration tests start whole clusters, and
# several at once on a two-core machine turn load into timeouts.
go test -race -p 1 -timeout 15m "$@" ./...
echo "== scripts/cluster-up_test.sh"
bash scripts/cluster-up_test.sh
