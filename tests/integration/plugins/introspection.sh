#!/bin/bash
# introspection.sh -- GET /registry on the ready listener (issue 5 item 7):
# JSON with every served name, its records and the ServiceEntries
# (namespace/name) it came from, the rejected entries with their reasons,
# and each source's sync state; before the first load it says why not.
. "$(dirname "$0")/../lib.sh"
need dig curl python3

pick_ports PORT P2 R
plan 15

cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
    ready 127.0.0.1:$R
    serviceentries {
        file $TESTDATA/integration/bar.yaml $TESTDATA/integration/invalid-entry.yaml
        ttl 45
    }
}
late.global:$P2 {
    ready 127.0.0.1:$R
    serviceentries {
        file $T_TMP/late.yaml
        ns_address 192.0.2.53 2001:db8::53
    }
}
EOF
start_globaldns intro "$T_TMP/Corefile" || exit 1
curl -s -m 3 -D "$T_TMP/hdr" "http://127.0.0.1:$R/registry" >"$T_TMP/reg.json"
like "$(tr -d '\r' <"$T_TMP/hdr" | grep -i '^content-type')" "application/json" "/registry is application/json"

# j EXPR: evaluate a Python expression on the JSON (as `r`)
j() { python3 -c "import json, sys; r = json.load(open(sys.argv[1])); print($1)" "$T_TMP/reg.json" 2>&1; }
g="[x for x in r['registries'] if 'global.' in x['zones']][0]"
l="[x for x in r['registries'] if 'late.global.' in x['zones']][0]"

is "$(j "r['ready']")" False "not ready while one block's source has not loaded"
like "$(j "r['not_ready']")" "late\.global\.: .*late\.yaml" "not_ready names the block and the file"
is "$(j "[(n['name'], n['A'], n['service_entries']) for n in $g['names'] if n['name'] == 'httpbin.bar.global.']")" \
	"[('httpbin.bar.global.', ['240.0.1.2'], ['bar/httpbin-bar-local'])]" "a served name with its A records and its ServiceEntry"
is "$(j "sorted(n['name'] for n in $g['names'])")" "['good.test.global.', 'httpbin.bar.global.']" "every served name is listed"
is "$(j "[(x['namespace'], x['name']) for x in $g['rejected']]")" "[('broken', 'wild-middle')]" "the rejected entry, by namespace/name"
like "$(j "$g['rejected'][0]['reason']")" "spec\.hosts\[0\]: .*only allowed as the whole first label" "with its reason"
is "$(j "($g['source']['kind'], $g['source']['synced'], $g['source']['syncs_ok'], $g['source']['last_error'])")" \
	"('file', True, 1, '')" "the source's sync state: kind, synced, syncs, last error"
like "$(j "$g['source']['last_success']")" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "last_success is an RFC 3339 time"
is "$(j "($g['ttl'], $g['entries'], $g['server_block'].endswith('Corefile:1'))")" "(45, 2, True)" "ttl, entries used and the server block"
is "$(j "($l['source']['synced'], $l['names'], $l['source']['last_error'] != '')")" "(False, [], True)" "an unloaded source: not synced, no names, its error"
is "$(j "$l['ns_addresses']")" "['192.0.2.53', '2001:db8::53']" "what ns.dns.<zone> answers (ns_addresses)"

cat >"$T_TMP/late.yaml" <<EOF
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc, namespace: late}
spec:
  hosts: [svc.late.global]
  resolution: STATIC
  addresses: [240.0.9.1, "2001:db8::91"]
EOF
loaded() { curl -s -m 2 "http://127.0.0.1:$R/registry" >"$T_TMP/reg.json" && [ "$(j "r['ready']")" = True ]; }
wait_until 5 loaded
ok $? "ready once the late source loads"
is "$(j "[(n['name'], n['A'], n['AAAA'], n['service_entries']) for n in $l['names']]")" \
	"[('svc.late.global.', ['240.0.9.1'], ['2001:db8::91'], ['late/svc'])]" "its name with A and AAAA records"
is "$(PORT=$P2 q +short svc.late.global AAAA)" "2001:db8::91" "and DNS agrees"
