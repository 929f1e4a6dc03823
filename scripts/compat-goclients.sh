#!/usr/bin/env bash
# compat-goclients.sh checks Weir against two Go Kafka clients with
# protocol code of their own, IBM/sarama and segmentio/kafka-go, by running
# the tests of compat/goclients: a Go module of its own (so that weir's
# go.mod does not depend on these clients; it uses this tree through a
# replace directive), whose tests start embedded brokers with weirtest on
# ephemeral loopback ports and temporary directories. The clients come from
# the Go module proxy, pinned by compat/goclients/go.sum.
#
# Usage: scripts/compat-goclients.sh [go test flags, e.g. -run Sarama -v]
# Environment:
#   GO=go                          the go command
#   WEIR_COMPAT_TRACE=1            count requests by API key and version
#                                  (shown with -v)
#   WEIR_COMPAT_LOG=1              print broker (and sarama) logs (with -v)
#   WEIR_COMPAT_SARAMA_VERSIONS=   protocol levels for sarama, e.g. 0.11.0.0,2.1.0
set -euo pipefail

cd "$(dirname "$0")/../compat/goclients"
GO=${GO:-go}

start=$(date +%s)
$GO test -count=1 -timeout 5m "$@" ./...
echo "compat-goclients: PASS ($(sed -n 's/^\t\(github.com\/IBM\/sarama\|github.com\/segmentio\/kafka-go\) \(v[^ ]*\).*/\1 \2/p' go.mod | paste -sd, - | sed "s/,/, /g"); $(($(date +%s) - start)) s)"
