#!/bin/bash
# cache.sh -- the `cache` directive in front of `forward`, asserted with dig
# and with the scripted upstreams' query logs (a hit never reaches them):
# hits, TTL countdown, question case, the DO/CD key bits, EDNS, denial
# caching with the SOA minimum, SERVFAIL caching, REFUSED not cached, the
# max and min TTLs, capacity and eviction, serve_stale (immediate and
# verify), prefetch, and serviceentries answers that are never cached.
# Never cached: the forwarder's own SERVFAIL (deadline), and a message
# too big to take the OPT an EDNS client gets; AA only as the upstream set it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig python3 nsd

plan 41

pick_ports PORT P2 P3 P4 P5 P6 P7 P8 P9 P10 UA UB UC UD UE NSD
CA=$T_TMP/a.mode CB=$T_TMP/b.mode CC=$T_TMP/c.mode CE=$T_TMP/e.mode
echo normal >"$CA"; echo normal >"$CB"; echo normal >"$CC"; echo normal >"$CE"
start_upstream a "$UA" --control "$CA" --a www.example.test=192.0.2.1 --a fail.example.test=192.0.2.1 \
	--a ref.example.test=192.0.2.1 --negttl 60
start_upstream b "$UB" --control "$CB" --ttl 300 --a www.example.test=192.0.2.2
start_upstream c "$UC" --control "$CC" --a www.example.test=192.0.2.3
start_upstream d "$UD" --a www.example.test=192.0.2.4
# 4093 A records for a 21-byte name: 65526 bytes without OPT, 11 more
# than a cache hit can carry with one
start_upstream e "$UE" --control "$CE" --a syn.example.test=192.0.2.5 --big hugeone.example.test=4093
start_nsd "$NSD" || exit 1
cp "$TESTDATA/integration/answers.yaml" "$T_TMP/se.yaml"

cat >"$T_TMP/Corefile" <<EOF
.:$PORT {
	cache
	forward . 127.0.0.1:$UA
}
.:$P2 {
	cache 30
	forward . 127.0.0.1:$UB
}
.:$P3 {
	cache {
		success 100 3600 20
		servfail 0
	}
	forward . 127.0.0.1:$NSD
}
.:$P4 {
	cache {
		denial 2
	}
	forward . 127.0.0.1:$UB
}
.:$P5 {
	cache {
		success 100 2 1
		serve_stale 1h
	}
	forward . 127.0.0.1:$UB {
		timeout 300ms
		deadline 1s
	}
}
.:$P6 {
	cache {
		success 100 2 1
		serve_stale 1h verify
	}
	forward . 127.0.0.1:$UC {
		timeout 300ms
		deadline 1s
	}
}
.:$P7 {
	cache {
		success 100 6 1
		prefetch 1 1m 50%
	}
	forward . 127.0.0.1:$UD
}
.:$P8 {
	cache
	serviceentries global {
		file $T_TMP/se.yaml
	}
	forward . 127.0.0.1:$UD
}
.:$P9 {
	cache
	forward . 127.0.0.1:$UE {
		timeout 300ms
		deadline 800ms
	}
}
.:$P10 {
	cache
	forward . 127.0.0.1:$UE
}
EOF
start_globaldns gd "$T_TMP/Corefile" || exit 1

# ---- hits, TTL countdown, key ----
is "$(section answer www.example.test)" "www.example.test. 300 IN A 192.0.2.1" "miss: forwarded"
is "$(resp www.example.test | head -1)" "NOERROR flags:qr ra qd:1 an:1 ns:0 ar:1" "hit: NOERROR, no AA (the upstream set none), RA kept, RD as asked (off)"
is "$(seen a www.example.test.)" "1" "the upstream saw one query for two"
sleep 2
t=$(ttl_of www.example.test)
ok $(( t >= 296 && t <= 298 ? 0 : 1 )) "TTL counts down in cached answers (300 -> $t after 2 s)"
out=$(q WwW.ExAmple.TEST)
like "$out" ";WwW\.ExAmple\.TEST\.[[:space:]]+IN[[:space:]]+A" "hit: question echoed in the client's case"
unlike "$out" "ID mismatch|mismatch" "hit: dig accepts it (ID and question)"
is "$(counts +noedns www.example.test)" "QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 0" "hit without EDNS: no OPT"
like "$(q +dnssec www.example.test)" "flags: do;" "DO asked: OPT with DO"
q +cd www.example.test >/dev/null
is "$(seen a www.example.test.)" "3" "DO and CD are part of the key: one more upstream query each"
is "$(flags +cd www.example.test)" "qr rd ra cd" "CD hit: CD echoed"

# ---- denial ----
is "$(resp nx.example.test)" "NXDOMAIN flags:qr ra qd:1 an:0 ns:1 ar:1
ns test. 60 IN SOA ns.upstream. hostmaster.upstream. SERIAL 3600 600 86400 60" "NXDOMAIN: forwarded"
sleep 1.1
r=$(resp nx.example.test)
like "$r" "^NXDOMAIN flags:qr ra " "NXDOMAIN cached"
like "$r" "ns test\. 5[89] IN SOA" "denial TTL from the SOA minimum, counting down"
is "$(seen a nx.example.test.)" "1" "the upstream saw one NXDOMAIN query"
q www.example.test TXT >/dev/null; q www.example.test TXT >/dev/null
is "$(grep -c 'www.example.test. 16 ' "$T_TMP/a.queries")" "1" "NODATA cached"
echo servfail >"$CA"
q fail.example.test >/dev/null; r=$(rcode fail.example.test)
is "$r:$(seen a fail.example.test.)" "SERVFAIL:1" "SERVFAIL cached (servfail 5s)"
echo refused >"$CA"
q ref.example.test >/dev/null; r=$(rcode ref.example.test)
is "$r:$(seen a ref.example.test.)" "REFUSED:2" "REFUSED never cached"
echo normal >"$CA"

# ---- TTL bounds, capacity ----
PORT_SAVE=$PORT; PORT=$P2
is "$(ttl_of www.example.test):$(ttl_of www.example.test)" "30:30" "cache 30: the upstream's 300 capped to 30, in the first answer and the cached one"
PORT=$P3
is "$(ttl_of short.example.test)" "10" "NSD's TTL 10 first"
t=$(ttl_of short.example.test)
ok $(( t >= 19 && t <= 20 ? 0 : 1 )) "success MINTTL 20: cached for 20 s ($t)"
PORT=$P4
for n in n1 n2 n3; do q $n.example.test >/dev/null; done
q n3.example.test >/dev/null; q n1.example.test >/dev/null
is "$(seen b n1.example.test.):$(seen b n3.example.test.)" "2:1" "denial capacity 2: the least recently used entry was evicted"
PORT=$PORT_SAVE
echo normal >"$CA"

# ---- serve_stale ----
PORT=$P5
is "$(q +short www.example.test)" "192.0.2.2" "serve_stale: cached (TTL 2)"
echo silent >"$CB"
sleep 2.3
t=$(ms q www.example.test)
is "$(section answer www.example.test)" "www.example.test. 0 IN A 192.0.2.2" "expired, upstream silent: the stale answer, TTL 0"
ok $(( t < 300 ? 0 : 1 )) "immediate mode: at once (${t} ms)"
sleep 1.2
is "$(section answer www.example.test)" "www.example.test. 0 IN A 192.0.2.2" "still stale after the background refresh failed (its SERVFAIL is not cached over it)"
ok $(( $(seen b www.example.test.) >= 2 ? 0 : 1 )) "the background refresh asked the upstream"
PORT=$P6
is "$(q +short www.example.test)" "192.0.2.3" "serve_stale verify: cached"
echo silent >"$CC"
sleep 2.3
t=$(ms q www.example.test)
is "$(section answer www.example.test)" "www.example.test. 0 IN A 192.0.2.3" "verify mode: upstream failed, the stale answer"
ok $(( t >= 500 ? 0 : 1 )) "verify mode: the upstream was tried first (${t} ms)"
PORT=$PORT_SAVE

# ---- prefetch ----
PORT=$P7
q www.example.test >/dev/null
sleep 3.2
t=$(ttl_of www.example.test)
wait_until 3 sh -c "[ \$(grep -c 'www.example.test. 1 ' '$T_TMP/d.queries') -ge 2 ]"
ok $? "prefetch: a hit with 3 s of 6 left (50%) refreshes it in the background (TTL was $t)"
sleep 3
t=$(ttl_of www.example.test)
ok $(( t >= 1 && t <= 5 ? 0 : 1 )) "after the first TTL ran out: still a hit from the refreshed entry (TTL $t, not a fresh 6)"
PORT=$PORT_SAVE

# ---- the forwarder's own SERVFAIL is never cached ----
PORT=$P9
echo silent >"$CE"
is "$(flags syn.example.test)" "qr rd" "upstream silent: SERVFAIL at the deadline, without AA"
n1=$(seen e syn.example.test.)
is "$(flags syn.example.test)" "qr rd" "asked again: SERVFAIL, still without AA"
n2=$(seen e syn.example.test.)
ok $(( n2 > n1 && n1 >= 1 ? 0 : 1 )) "the deadline's SERVFAIL was not cached: the upstream was asked again ($n1 then $n2)"
echo normal >"$CE"
wait_until 5 sh -c "[ \"\$(dig @127.0.0.1 -p $P9 +tries=1 +time=1 +short syn.example.test)\" = 192.0.2.5 ]"
ok $? "upstream back: its answer, at once (no cached SERVFAIL in the way)"
PORT=$PORT_SAVE

# ---- a message near 64 KiB ----
PORT=$P10
is "$(counts +tcp +noedns hugeone.example.test)" "QUERY: 1, ANSWER: 4093, AUTHORITY: 0, ADDITIONAL: 0" "65526-byte answer over TCP, no EDNS: forwarded whole"
out=$(q +tcp hugeone.example.test 2>&1)
unlike "$out" "malformed|bad packet" "then an EDNS client over TCP: a well-formed message..."
is "$(printf '%s\n' "$out" | grep -c '^hugeone\.example\.test\..*[[:space:]]A[[:space:]]')" "4093" "... with all 4093 records (not cut mid-record to make room for the OPT)"
is "$(seen e hugeone.example.test.)" "2" "too big to answer from the cache with an OPT: not stored, asked again"
PORT=$PORT_SAVE

# ---- serviceentries answers are not cached ----
PORT=$P8
is "$(q +short httpbin.bar.global)" "240.0.0.2" "serviceentries answer behind cache"
sed -i 's/240\.0\.0\.2/240.0.0.99/' "$T_TMP/se.yaml"
wait_until 5 sh -c "[ \"\$(dig @127.0.0.1 -p $P8 +tries=1 +time=1 +short httpbin.bar.global)\" = 240.0.0.99 ]"
ok $? "a registry change shows at once, not after a cache TTL"
PORT=$PORT_SAVE
