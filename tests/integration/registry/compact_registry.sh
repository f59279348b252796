#!/bin/bash
# compact_registry.sh -- the compact registry snapshot (issue 12 item 3)
# answers and introspects as before: records copied from their pre-rendered
# wire form (owner the question as asked, the block's TTL, numeric order,
# truncation all or nothing), /registry from what the snapshot keeps once
# the entry list is freed (names, addresses, source entries, rejects, and
# its size in bytes), and a rebuild on the build thread is published.
. "$(dirname "$0")/../lib.sh"
need dig curl python3

pick_ports PORT R M
plan 23

# many.global: 40 IPv4 addresses from two entries (one shared), 3 IPv6;
# *.wild.global; a reject; an empty non-terminal (ent.global).
write_manifest() {  # write_manifest LAST-OCTET-OF-ONE.GLOBAL
	{
		echo "apiVersion: networking.istio.io/v1"
		echo "kind: ServiceEntry"
		echo "metadata: {name: many-b, namespace: t}"
		echo "spec:"
		echo "  hosts: [many.global]"
		echo "  resolution: STATIC"
		printf '  addresses: ['
		for i in $(seq 21 40); do printf '240.0.0.%d, ' "$i"; done
		echo '240.0.0.1, "2001:db8::3"]'
		echo "---"
		echo "apiVersion: networking.istio.io/v1"
		echo "kind: ServiceEntry"
		echo "metadata: {name: many-a, namespace: t}"
		echo "spec:"
		echo "  hosts: [many.global, one.ent.global]"
		echo "  resolution: STATIC"
		printf '  addresses: ['
		for i in $(seq 20 -1 1); do printf '240.0.0.%d, ' "$i"; done
		echo '"2001:db8::2", "2001:db8::1"]'
		echo "---"
		echo "apiVersion: networking.istio.io/v1"
		echo "kind: ServiceEntry"
		echo "metadata: {name: one, namespace: u}"
		echo "spec:"
		echo "  hosts: [one.global, \"*.wild.global\"]"
		echo "  resolution: STATIC"
		echo "  addresses: [240.0.1.$1]"
		echo "---"
		echo "apiVersion: networking.istio.io/v1"
		echo "kind: ServiceEntry"
		echo "metadata: {name: broken, namespace: t}"
		echo "spec:"
		echo "  hosts: [\"a.*.global\"]"
	} >"$T_TMP/se.yaml.new"
	mv "$T_TMP/se.yaml.new" "$T_TMP/se.yaml"
}
write_manifest 1
cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
    ready 127.0.0.1:$R
    prometheus 127.0.0.1:$M
    serviceentries {
        file $T_TMP/se.yaml
        ttl 77
    }
}
EOF
start_globaldns cr "$T_TMP/Corefile" || exit 1

want_a=$(for i in $(seq 1 40); do echo "240.0.0.$i"; done)
is "$(q +short many.global A)" "$want_a" "40 A records from two entries: the union, deduplicated, in numeric order"
is "$(section answer many.global A | awk '{print $1, $2, $3, $4}' | sort -u)" "many.global. 77 IN A" \
	"each owned by the question's name, with the block's TTL"
is "$(section answer MaNy.GloBal A | awk '{print $1}' | sort -u)" "MaNy.GloBal." "the owner echoes the question's case (a pointer to it)"
is "$(q +short many.global AAAA | tr '\n' ' ')" "2001:db8::1 2001:db8::2 2001:db8::3 " "AAAA: the three IPv6 addresses, in order"
is "$(section answer many.global ANY | awk '{print $4}' | sort -u)" "A" "ANY: the A set only (RFC 8482)"
is "$(section answer x.y.wild.global A)" "x.y.wild.global. 77 IN A 240.0.1.1" "a wildcard answer is owned by the name asked"
is "$(rcode ent.global A)" NOERROR "an empty non-terminal exists"
is "$(counts ent.global A)" "QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 1" "... with no answer and the SOA"

# 40 A records (40 * 16 bytes) do not fit in 512: all or nothing
like "$(flags +noedns +ignore many.global A)" "tc" "without EDNS the 40 records do not fit: TC"
is "$(counts +noedns +ignore many.global A)" "QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0" "... and none of them is sent"
is "$(q +tcp +short many.global A | wc -l)" 40 "over TCP: all 40"
is "$(q +noedns +short one.global A)" "240.0.1.1" "a single record fits without EDNS"

reg() { curl -s -m 3 "http://127.0.0.1:$R/registry" >"$T_TMP/reg.json"; }
j() { python3 -c "import json, sys; r = json.load(open(sys.argv[1])); g = r['registries'][0]; print($1)" "$T_TMP/reg.json" 2>&1; }
reg
is "$(j "[n['A'] == ['240.0.0.%d' % i for i in range(1, 41)] for n in g['names'] if n['name'] == 'many.global.']")" \
	"[True]" "/registry: the 40 addresses of many.global"
is "$(j "[(n['AAAA'], n['service_entries']) for n in g['names'] if n['name'] == 'many.global.']")" \
	"[(['2001:db8::1', '2001:db8::2', '2001:db8::3'], ['t/many-b', 't/many-a'])]" \
	"... its IPv6 addresses and both entries (in the order of their first address)"
is "$(j "sorted(n['name'] for n in g['names'])")" \
	"['*.wild.global.', 'many.global.', 'one.ent.global.', 'one.global.']" "every served name, the wildcard too"
is "$(j "[(x['namespace'], x['name']) for x in g['rejected']]")" "[('t', 'broken')]" "the reject, by namespace/name"
like "$(j "g['rejected'][0]['reason']")" "spec\.hosts\[0\]" "... with its reason"
is "$(j "(g['entries'], g['registry_bytes'] > 0, g['bytes_per_name'] == g['registry_bytes'] // 4)")" "(3, True, True)" \
	"entries used, and the snapshot's size in bytes and per name"
like "$(grep 'names from' "$T_TMP/cr.log" | tail -1)" "4 names from 3 entries .*, [0-9]+ bytes$" "the load log gives the snapshot's size"
is "$(curl -s -m 3 "http://127.0.0.1:$M/metrics" | sed -n 's/^globaldns_registry_bytes{zone="global."} //p')" \
	"$(j "g['registry_bytes']")" "globaldns_registry_bytes: the same size"

# a rebuild (on the build thread) is published
write_manifest 2
changed() { [ "$(q +short one.global A)" = 240.0.1.2 ]; }
wait_until 10 changed
ok $? "a changed manifest is rebuilt and published"
is "$(q +short x.wild.global A)" "240.0.1.2" "... the wildcard too"
reg
is "$(j "[n['A'] for n in g['names'] if n['name'] == 'one.global.']")" "[['240.0.1.2']]" "/registry shows the new snapshot"
