#!/bin/bash
# manifest_rewrites.sh -- a manifest rewritten in place (truncate, then
# write: what `>` and many editors do) is never served empty or half
# written: while a loop rewrites it -- at once, in two halves with a pause
# between, or truncated and left empty for a moment -- a stable name is
# queried over and over and never gets NXDOMAIN (issue 11 row 4).  The
# same for a file in a directory.  A file really emptied is applied once
# it has stayed empty (2 s); a real change still within 3 s.  Corefile
# reloads during the rewrites all succeed, never serving half a file.
. "$(dirname "$0")/../lib.sh"
need dig python3

plan 12

pick_ports PORT P2
SE=$T_TMP/se.yaml
DIR=$T_TMP/sedir
mkdir -p "$DIR"

# manifests N: N ServiceEntries (stable.t.global first), on stdout
manifests() {
	python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    host = "stable.t.global" if i == 0 else "svc-%d.t.global" % i
    print("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
          "metadata: {name: se-%d, namespace: t}\nspec:\n  hosts: [%s]\n"
          "  addresses: [240.0.%d.%d]\n  resolution: STATIC" % (i, host, i // 256, i % 256 + 1))
PY
}
manifests 200 >"$T_TMP/full.yaml"
cp "$T_TMP/full.yaml" "$SE"
cp "$T_TMP/full.yaml" "$DIR/a.yaml"
corefile() {  # corefile TTL
	cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
	serviceentries {
		file $SE
		ttl $1
	}
}
global:$P2 {
	serviceentries {
		file $DIR
		ttl $1
	}
}
EOF
}
corefile 30
start_globaldns rw "$T_TMP/Corefile" || exit 1
LOG=$T_TMP/rw.log
is "$(q +short stable.t.global)" "240.0.0.1" "initial answer"

# rewrite FILE SECONDS: rewrite FILE in place, in a loop, for SECONDS,
# while querying stable.t.global on both ports every 10 ms; prints
# "queries nxdomain servfail other rewrites"
rewrite() {
	python3 - "$1" "$2" "$T_TMP/full.yaml" "$PORT" "$P2" <<'PY'
import random, socket, struct, sys, threading, time
path, secs, full, ports = sys.argv[1], float(sys.argv[2]), open(sys.argv[3]).read(), (int(sys.argv[4]), int(sys.argv[5]))
stop = time.time() + secs
count = {"rewrites": 0}
def writer():
    rnd = random.Random(7)
    while time.time() < stop:
        how = count["rewrites"] % 3
        with open(path, "w") as f:          # truncates
            if how == 1:                    # half now, half later
                cut = rnd.randrange(1, len(full))
                f.write(full[:cut]); f.flush()
                time.sleep(rnd.uniform(0.01, 0.15))
                f.write(full[cut:])
            elif how == 2:                  # left empty for a moment
                f.flush()
                time.sleep(rnd.uniform(0.05, 0.2))
                f.write(full)
            else:
                f.write(full)
        count["rewrites"] += 1
        time.sleep(rnd.uniform(0.0, 0.35))
t = threading.Thread(target=writer)
t.start()
q = struct.pack(">HHHHHH", 0, 0x0100, 1, 0, 0, 0) + b"\x06stable\x01t\x06global\x00" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
n = nx = sf = other = 0
qid = 0
while time.time() < stop:
    for port in ports:
        qid = (qid + 1) & 0xffff
        s.sendto(struct.pack(">H", qid) + q[2:], ("127.0.0.1", port))
        try:
            while True:
                r = s.recv(512)
                if struct.unpack(">H", r[:2])[0] == qid:
                    break
        except socket.timeout:
            other += 1
            continue
        n += 1
        rc = r[3] & 0xF
        an = struct.unpack(">H", r[6:8])[0]
        if rc == 3:
            nx += 1
        elif rc == 2:
            sf += 1
        elif rc != 0 or an != 1:
            other += 1
    time.sleep(0.01)
t.join()
print(n, nx, sf, other, count["rewrites"])
PY
}

read -r n nx sf other rw < <(rewrite "$SE" 8)
echo "# file rewritten in place $rw times; $n queries: $nx NXDOMAIN, $sf SERVFAIL, $other other"
ok $((n < 200)) "the query loop ran ($n queries, $rw rewrites)"
is "$nx/$sf/$other" "0/0/0" "file rewritten in place: no NXDOMAIN, SERVFAIL or other answer"
read -r n nx sf other rw < <(rewrite "$DIR/a.yaml" 6)
echo "# directory file rewritten in place $rw times; $n queries: $nx NXDOMAIN, $sf SERVFAIL, $other other"
is "$nx/$sf/$other" "0/0/0" "file in a directory rewritten in place: no NXDOMAIN, SERVFAIL or other answer"
unlike "$(grep -E '^\[ERROR\]' "$LOG")" "." "no error logged (no half-written file was read)"

# Corefile reloads (the serviceentries directives change: new sources
# read the files at once) just after the file was truncated, before it is
# written again: the reload waits for the file, never serves it empty
for t in 31 32 33; do
	: >"$SE"
	corefile "$t"
	kill -HUP "$GD_PID"
	sleep 0.15
	cat "$T_TMP/full.yaml" >"$SE"
	sleep 1
done
is "$(grep -c 'Reloading complete' "$LOG")/$(grep -c 'reload failed' "$LOG")" "3/0" \
	"reloads while the file is rewritten all succeed (the file is waited for)"
is "$(grep -c ' 0 names from 0 entries' "$LOG")" 0 "... and none serves it empty"

# a file really emptied: applied once it has stayed empty
: >"$SE"
sleep 1
is "$(PORT=$PORT rcode stable.t.global)" NOERROR "emptied: still served after 1 s (might be a rewrite)"
gone() { [ "$(rcode stable.t.global)" = NXDOMAIN ]; }
wait_until 6 gone
ok $? "emptied and left so: the names are gone"
manifests 3 >"$SE"
back() { [ "$(q +short stable.t.global)" = "240.0.0.1" ]; }
t0=$(date +%s%N)
wait_until 5 back
ok $? "written again: served again"
d=$((($(date +%s%N) - t0) / 1000000))
ok $((d > 3000)) "... within 3 s ($d ms)"
kill -0 "$GD_PID"
ok $? "still running"
