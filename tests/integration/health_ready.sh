#!/bin/bash
# health_ready.sh -- `health` and `ready` (issue 5 items 1 and 8): /health
# answers 200 OK while the process runs; /ready answers 503 naming what is
# not ready until the source has loaded, then 200; both are process-wide
# (two blocks naming one address share its listener); unknown paths 404,
# other methods 405.
. "$(dirname "$0")/lib.sh"
need dig curl python3

pick_ports PORT P2 H R
SE=$T_TMP/se.yaml
plan 17

cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
    health 127.0.0.1:$H
    ready 127.0.0.1:$R
    serviceentries {
        file $SE
    }
}
other.global:$P2 {
    health 127.0.0.1:$H
    ready 127.0.0.1:$R
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
