#!/bin/bash
# kube_share.sh -- shared informers: three serviceentries blocks (three
# zones) reading the same API server with the same credentials make one
# list and one watch, and each serves the change the one watch brings; a
# block with another namespace gets an informer of its own beside the
# shared one; a reload that keeps the settings keeps the informers (no new
# list; a new block finds the running one), one that changes them makes
# new ones; /registry tells how many
# blocks read each informer.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 15

start_fake || exit 1
for z in a b c; do
	ctl entries "{\"metadata\":{\"name\":\"svc-$z\",\"namespace\":\"default\"},\"spec\":{\"hosts\":[\"svc.$z.global\"],\"addresses\":[\"10.0.0.1\"],\"resolution\":\"STATIC\"}}" >/dev/null
done
se other o o.other.global 10.0.9.1

pick_ports PORT HPORT
write_conf() {  # write_conf EXTRA-PROPERTY-FOR-C
	cat >"$T_TMP/Corefile" <<EOF
a.global:$PORT {
    ready 127.0.0.1:$HPORT
    # v1
    serviceentries {
        kubeconfig $K8S/kubeconfig
        timeout 2s
    }
}
b.global:$PORT {
    serviceentries {
        kubeconfig $K8S/kubeconfig
        timeout 2s
    }
}
c.global:$PORT {
    serviceentries {
        kubeconfig $K8S/kubeconfig
        timeout 2s
        $1
    }
}
other.global:$PORT {
    serviceentries {
        kubeconfig $K8S/kubeconfig
        timeout 2s
        namespaces other
    }
}
EOF
}
reloaded() { [ "$(grep -c 'Running configuration' "$T_TMP/gd.log")" -gt "$N0" ]; }
write_conf ""
start_globaldns gd "$T_TMP/Corefile" || exit 1
wait_a 10 svc.c.global 10.0.0.1
wait_a 10 o.other.global 10.0.9.1
is "$(a svc.a.global) $(a svc.b.global) $(a svc.c.global) $(a o.other.global)" \
	"10.0.0.1 10.0.0.1 10.0.0.1 10.0.9.1" "four blocks served"
sleep 0.5
LOG=$(fake_log)
is "$(echo "$LOG" | grep -cE ' list |sendInitialEvents.*' | tr -d ' ')" 2 \
	"two lists in all: one for the three blocks of all namespaces, one for namespace other"
is "$(echo "$LOG" | grep -E 'sendInitialEvents' | grep -vc '/namespaces/other/')" 1 \
	"... the three blocks' list is one request"
is "$(echo "$LOG" | grep ' watch 200 ' | grep -c 'sendInitialEvents')" 2 \
	"one watch each (a streaming list goes on as the watch)"

# one change, one event on one watch: every block serves it
SEQ=$(fake_seq)
for z in a b c; do
	ctl entries "{\"metadata\":{\"name\":\"svc-$z\",\"namespace\":\"default\"},\"spec\":{\"hosts\":[\"svc.$z.global\"],\"addresses\":[\"10.0.0.2\"],\"resolution\":\"STATIC\"}}" >/dev/null
done
wait_a 5 svc.c.global 10.0.0.2
is "$(a svc.a.global) $(a svc.b.global) $(a svc.c.global)" "10.0.0.2 10.0.0.2 10.0.0.2" \
	"changes through the shared watch reach every block"
is "$(fake_log "$SEQ" | wc -l | tr -d ' ')" 0 "... with no new request"

REG=$(curl -sf "http://127.0.0.1:$HPORT/registry")
informers() {  # the informers of each registry: "zone:namespace:blocks ..."
	python3 -c '
import json, sys
d = json.load(sys.stdin)
for r in d["registries"]:
    for i in r["source"].get("informers", []):
        print("%s:%s:%d" % (r["zones"][0], i["namespace"] or "*", i["blocks"]))' | sort | tr '\n' ' '
}
is "$(echo "$REG" | informers)" "a.global.:*:3 b.global.:*:3 c.global.:*:3 other.global.:other:1 " \
	"/registry: the all-namespaces informer is read by 3 blocks, namespace other's by 1"
like "$(echo "$REG" | python3 -c 'import json,sys; print(json.load(sys.stdin)["registries"][0]["source"]["lists"])')" \
	"streaming" "/registry: lists are streamed"

# a reload that starts a new block (zone b.global becomes b2.global) with
# the same settings: it finds the running informer -- no list, served at once
ctl entries '{"metadata":{"name":"svc-b2","namespace":"default"},"spec":{"hosts":["svc.b2.global"],"addresses":["10.0.0.4"],"resolution":"STATIC"}}' >/dev/null
wait_a 5 svc.a.global 10.0.0.2
sleep 0.5
SEQ=$(fake_seq)
N0=$(grep -c 'Running configuration' "$T_TMP/gd.log")
sed -i "s/^b.global:$PORT {/b2.global:$PORT {/" "$T_TMP/Corefile"
kill -HUP "$GD_PID"
wait_until 10 reloaded
wait_a 5 svc.b2.global 10.0.0.4
is "$(a svc.b2.global)" 10.0.0.4 "reload, a new block with the same settings: served"
sleep 1
is "$(fake_log "$SEQ" | grep -cE ' list |sendInitialEvents' | tr -d ' ')" 0 "... from the running informer: no new list"
# a reload that changes block c's settings: c gets an informer of its own
SEQ=$(fake_seq)
N0=$(grep -c 'Running configuration' "$T_TMP/gd.log")
write_conf "backoff 300ms 2s"
sed -i "s/^b.global:$PORT {/b2.global:$PORT {/" "$T_TMP/Corefile"
kill -HUP "$GD_PID"
wait_until 10 reloaded
wait_log 10 'sendInitialEvents' "$SEQ"
sleep 1
is "$(fake_log "$SEQ" | grep -cE ' list |sendInitialEvents' | tr -d ' ')" 1 \
	"reload, block c's settings changed: one new list, for c alone"
REG=$(curl -sf "http://127.0.0.1:$HPORT/registry")
is "$(echo "$REG" | informers)" "a.global.:*:2 b2.global.:*:2 c.global.:*:1 other.global.:other:1 " \
	"/registry: a and b share one informer, c has its own"
SEQ=$(fake_seq)
ctl entries '{"metadata":{"name":"svc-c","namespace":"default"},"spec":{"hosts":["svc.c.global"],"addresses":["10.0.0.3"],"resolution":"STATIC"}}' >/dev/null
wait_a 5 svc.c.global 10.0.0.3
is "$(a svc.c.global)" 10.0.0.3 "c's own informer carries changes"
is "$(ss -tnp state established "( dport = :$(cat "$K8S/port") )" | grep -c "pid=$GD_PID,")" 2 \
	"two clients (the settings differ): two connections, one each"
kill -0 "$GD_PID"
ok $? "still running"
