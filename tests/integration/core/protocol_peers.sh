#!/bin/bash
# protocol_peers.sh -- issue 11: the protocol corners, asked of NSD 4.6,
# Knot 3.2 and globaldns side by side, all three serving the same zone
# (global: SOA, NS ns.dns.global, ns.dns.global A 127.0.0.1,
# httpbin.bar.global A 240.0.1.2).  Each case is one raw query; each
# answer is summarised (rcode, flags, counts, OPT, TSIG fields, records)
# and globaldns must give what the peers give.  Where NSD and Knot differ
# the case says whom globaldns follows (and NSD's dropping of the question
# in error answers is not compared: globaldns keeps it, as Knot does):
#   empty non-terminal dns.global            NOERROR/NODATA (RFC 8020)   both
#   TSIG-signed, no key configured           NOTAUTH + TSIG BADKEY        both
#   TSIG not last / in answer / twice        FORMERR                      both
#   TSIG class IN                            FORMERR                      NSD (Knot: BADKEY)
#   QDCOUNT 0 with an OPT                    FORMERR + OPT                Knot (NSD: NOERROR)
#   EDNS option past the OPT RDATA           FORMERR, no OPT              both
#   AXFR over UDP                            NOTIMP                       both
#   IXFR over UDP, AXFR/IXFR over TCP        REFUSED                      NSD (Knot: NOTAUTH)
. "$(dirname "$0")/../lib.sh"
need dig python3 nsd knotd

pick_ports PORT NSDP KNOTP
plan 31

Z=$T_TMP/zones
mkdir -p "$Z" "$T_TMP/knot-run" "$T_TMP/knot-db"
cat >"$Z/global.zone" <<'EOF'
$ORIGIN global.
$TTL 30
@ IN SOA ns.dns.global. hostmaster.global. 1 7200 1800 86400 30
@ IN NS ns.dns.global.
ns.dns IN A 127.0.0.1
httpbin.bar IN A 240.0.1.2
EOF
cat >"$T_TMP/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1@$NSDP
  username: ""
  zonesdir: "$Z"
  pidfile: "$T_TMP/nsd.pid"
  database: ""
  xfrdfile: "$T_TMP/xfrd.state"
  zonelistfile: "$T_TMP/zone.list"
  logfile: "$T_TMP/nsd-own.log"
  chroot: ""
  server-count: 1
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: global
  zonefile: global.zone
EOF
cat >"$T_TMP/knot.conf" <<EOF
server:
  listen: 127.0.0.1@$KNOTP
  rundir: $T_TMP/knot-run
log:
  - target: $T_TMP/knot-own.log
    any: info
database:
  storage: $T_TMP/knot-db
template:
  - id: default
    storage: $Z
zone:
  - domain: global
    file: global.zone
EOF
cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
	serviceentries {
		file $TESTDATA/integration/bar.yaml
		ns_address 127.0.0.1
	}
}
EOF

nsd -d -c "$T_TMP/nsd.conf" >"$T_TMP/nsd.log" 2>&1 &
T_PIDS="$T_PIDS $!"
knotd -c "$T_TMP/knot.conf" >"$T_TMP/knot.log" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_dns "$NSDP" || { echo "Bail out! nsd did not start"; cat "$T_TMP/nsd.log"; exit 1; }
wait_dns "$KNOTP" || { echo "Bail out! knotd did not start"; cat "$T_TMP/knot.log"; exit 1; }
start_globaldns peers "$T_TMP/Corefile" || { echo "Bail out! globaldns did not start"; exit 1; }

cat >"$T_TMP/probe.py" <<'PY'
import socket, struct, sys, time

port = int(sys.argv[1])
ADDR = ("127.0.0.1", port)
NOW = int(time.time())

def qname(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".") if l) + b"\0"

def hdr(qid=0x1234, flags=0x0000, qd=1, an=0, ns=0, ar=0):
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)

def question(name="httpbin.bar.global", qtype=1, qclass=1):
    return qname(name) + struct.pack(">HH", qtype, qclass)

def opt(do=0, rdata=b""):
    return b"\0" + struct.pack(">HHBBHH", 41, 1232, 0, 0, 0x8000 if do else 0, len(rdata)) + rdata

def tsig(klass=255, t=NOW, key="transfer-key.", alg="hmac-sha256."):
    rd = qname(alg) + struct.pack(">HIH", t >> 32, t & 0xffffffff, 300) \
        + struct.pack(">H", 32) + b"\x01" * 32 + struct.pack(">HHH", 0x1234, 0, 0)
    return qname(key) + struct.pack(">HHIH", 250, klass, 0, len(rd)) + rd

def udp(pkt):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.sendto(pkt, ADDR)
    try:
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()

def tcp(pkt):
    s = socket.create_connection(ADDR, timeout=2)
    s.sendall(struct.pack(">H", len(pkt)) + pkt)
    buf = b""
    while True:
        c = s.recv(65535)
        if not c:
            break
        buf += c
        if len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
            break
    s.close()
    return buf[2:] if len(buf) > 2 else None

def readname(m, o):
    labels = []
    while True:
        c = m[o]
        if c == 0:
            return ".".join(labels) + ".", o + 1
        if c & 0xC0 == 0xC0:
            rest, _ = readname(m, ((c & 0x3F) << 8) | m[o + 1])
            return ".".join(labels + [rest.rstrip(".")]) + ".", o + 2
        labels.append(m[o + 1:o + 1 + c].decode(errors="replace").lower())
        o += c + 1

def describe(r):
    if r is None:
        return "no answer"
    qid, fl, qd, an, ns, ar = struct.unpack(">HHHHHH", r[:12])
    rcode, o, recs = fl & 0xF, 12, []
    for _ in range(qd):
        o = readname(r, o)[1] + 4
    for i in range(an + ns + ar):
        name, o2 = readname(r, o)
        t, c, ttl, rdl = struct.unpack(">HHIH", r[o2:o2 + 10])
        sec = "an" if i < an else "ns" if i < an + ns else "ar"
        if t == 41:
            rcode |= (ttl >> 24) << 4
            recs.append("ar OPT do=%d" % ((ttl >> 15) & 1))
        elif t == 250:
            alg, p = readname(r, o2 + 10)
            ts = (struct.unpack(">H", r[p:p + 2])[0] << 32) | struct.unpack(">I", r[p + 2:p + 6])[0]
            fudge, macl = struct.unpack(">HH", r[p + 6:p + 10])
            orig, err, olen = struct.unpack(">HHH", r[p + 10 + macl:p + 16 + macl])
            recs.append("%s TSIG %s class=%d ttl=%d alg=%s time=%s fudge=%d mac=%d orig=%04x error=%d other=%d"
                        % (sec, name, c, ttl, alg, "echoed" if ts == NOW else ts, fudge, macl, orig, err, olen))
        else:
            recs.append("%s %s type%d" % (sec, name, t))
        o = o2 + 10 + rdl
    flags = [n for b, n in ((0x8000, "qr"), (0x400, "aa"), (0x200, "tc"), (0x100, "rd")) if fl & b]
    return "rcode=%d %s qd=%d an=%d ns=%d ar=%d%s" % (
        rcode, ",".join(flags), qd, an, ns, ar, "".join(" | " + x for x in recs))

cases = {
    "ent": lambda: udp(hdr(ar=1) + question("dns.global") + opt()),
    "ent-case": lambda: udp(hdr() + question("DNS.Global", 28)),
    "tsig": lambda: udp(hdr(ar=1) + question() + tsig()),
    "tsig-edns": lambda: udp(hdr(ar=2) + question() + opt() + tsig()),
    "tsig-tcp": lambda: tcp(hdr(ar=1) + question() + tsig()),
    "tsig-old-time": lambda: udp(hdr(ar=1) + question() + tsig(t=1000000)),
    "tsig-notify": lambda: udp(hdr(ar=1, flags=4 << 11) + question("global", 6) + tsig()),
    "tsig-not-last": lambda: udp(hdr(ar=2) + question() + tsig() + opt()),
    "tsig-in-answer": lambda: udp(hdr(an=1) + question() + tsig()),
    "tsig-twice": lambda: udp(hdr(ar=2) + question() + tsig() + tsig()),
    "tsig-rdata-cut": lambda: udp(hdr(ar=1) + question() + tsig()[:-6]),
    "tsig-class-in": lambda: udp(hdr(ar=1) + question() + tsig(klass=1)),
    "qd0": lambda: udp(hdr(qd=0)),
    "qd0-opt": lambda: udp(hdr(qd=0, ar=1) + opt(do=1)),
    "opt-overrun": lambda: udp(hdr(ar=1) + question() + opt(rdata=struct.pack(">HH", 10, 8) + b"abcd")),
    "opt-short": lambda: udp(hdr(ar=1) + question() + opt(rdata=b"\x00\x0a\x00")),
    "opt-option-ok": lambda: udp(hdr(ar=1) + question() + opt(rdata=struct.pack(">HH", 10, 8) + b"abcdefgh")),
    "axfr-udp": lambda: udp(hdr() + question("global", 252)),
    "axfr-udp-edns": lambda: udp(hdr(ar=1) + question("global", 252) + opt()),
    "axfr-udp-other": lambda: udp(hdr() + question("example.org", 252)),
    "ixfr-udp": lambda: udp(hdr() + question("global", 251)),
    "axfr-tcp": lambda: tcp(hdr() + question("global", 252)),
    "ixfr-tcp": lambda: tcp(hdr() + question("global", 251)),
}
for name in cases:
    print("%s %s" % (name, describe(cases[name]())))
PY

python3 "$T_TMP/probe.py" "$NSDP" >"$T_TMP/nsd.out"
python3 "$T_TMP/probe.py" "$KNOTP" >"$T_TMP/knot.out"
python3 "$T_TMP/probe.py" "$PORT" >"$T_TMP/gd.out"
get() { sed -n "s/^$2 //p" "$T_TMP/$1.out"; }
noqd() { sed 's/ qd=[0-9]*//'; }

# same CASE DESCRIPTION: NSD and Knot agree, globaldns gives the same
same() {
	local n k g
	n=$(get nsd "$1" | noqd); k=$(get knot "$1" | noqd); g=$(get gd "$1" | noqd)
	if [ "$n" != "$k" ]; then
		echo "# $1: NSD and Knot differ: nsd: $n / knot: $k"
	fi
	is "$g" "$k" "$1: $2 (as NSD and Knot: $k)"
}
# like_peer PEER CASE DESCRIPTION: globaldns follows PEER here
like_peer() {
	local other=knot; [ "$1" = knot ] && other=nsd
	echo "# $2: $other answers: $(get $other "$2")"
	if [ "$1" = nsd ]; then
		is "$(get gd "$2" | noqd)" "$(get nsd "$2" | noqd)" "$2: $3 (as NSD: $(get nsd "$2"))"
	else
		is "$(get gd "$2")" "$(get knot "$2")" "$2: $3 (as Knot: $(get knot "$2"))"
	fi
}

# ---- RFC 8020: dns.global is an empty non-terminal ----
same ent "dns.global (ns.dns.global exists): NOERROR, no answer, SOA"
is "$(get gd ent)" "rcode=0 qr,aa qd=1 an=0 ns=1 ar=1 | ns global. type6 | ar OPT do=0" "ent: NOERROR/NODATA with the SOA"
same ent-case "DNS.Global AAAA: the same, any case"
is "$(dig @127.0.0.1 -p "$PORT" +short ns.dns.global A)" 127.0.0.1 "ns.dns.global still answers its address"
is "$(rcode nosuch.dns.global A)" NXDOMAIN "nosuch.dns.global: NXDOMAIN"

# ---- TSIG without keys ----
same tsig "signed query: NOTAUTH, unsigned TSIG with error BADKEY"
like "$(get gd tsig)" '^rcode=9 qr qd=1 an=0 ns=0 ar=1 \| ar TSIG transfer-key\. class=255 ttl=0 alg=hmac-sha256\. time=echoed fudge=300 mac=0 orig=1234 error=17 other=0$' \
	"tsig: key, algorithm, time and fudge echoed, no MAC, BADKEY (17)"
same tsig-edns "signed with EDNS: the OPT comes before the TSIG"
same tsig-tcp "signed over TCP: the same"
same tsig-old-time "a time outside the fudge: still BADKEY, the time echoed"
same tsig-notify "a signed NOTIFY: BADKEY before NOTIMP"
same tsig-not-last "TSIG not the last record: FORMERR"
same tsig-in-answer "TSIG in the answer section: FORMERR"
same tsig-twice "two TSIG records: FORMERR"
same tsig-rdata-cut "TSIG RDATA cut short: FORMERR"
like_peer nsd tsig-class-in "TSIG of class IN: FORMERR"

# ---- QDCOUNT 0, EDNS options ----
same qd0 "QDCOUNT 0: FORMERR"
like_peer knot qd0-opt "QDCOUNT 0 with an OPT: FORMERR with the OPT (DO echoed)"
same opt-overrun "an EDNS option running past the OPT RDATA: FORMERR without OPT"
same opt-short "an option header cut short: FORMERR"
is "$(get gd opt-option-ok)" "rcode=0 qr,aa qd=1 an=1 ns=0 ar=1 | an httpbin.bar.global. type1 | ar OPT do=0" \
	"a well-formed option is accepted"

# ---- zone transfers ----
same axfr-udp "AXFR over UDP: NOTIMP"
same axfr-udp-edns "AXFR over UDP with EDNS: NOTIMP with the OPT"
same axfr-udp-other "AXFR over UDP for another zone: NOTIMP"
like_peer nsd ixfr-udp "IXFR over UDP: REFUSED"
like_peer nsd axfr-tcp "AXFR over TCP: REFUSED"
like_peer nsd ixfr-tcp "IXFR over TCP: REFUSED"

# dig agrees
is "$(rcode dns.global A)" NOERROR "dig dns.global: NOERROR"
like "$(q +norec dns.global A)" 'ANSWER: 0, AUTHORITY: 1' "dig dns.global: no answer, the SOA"
ok "$(kill -0 "$GD_PID" 2>/dev/null; echo $?)" "process alive"
is "$(get gd tsig-tcp)" "$(get gd tsig)" "TCP and UDP give the same TSIG answer"
