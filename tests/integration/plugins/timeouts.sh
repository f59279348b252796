#!/bin/bash
# timeouts.sh -- `timeouts` (CoreDNS's syntax): a block's TCP read, write
# and idle deadlines and max_queries, on the real binary: an idle
# connection closed after `idle`, a trickled message after `read`, a
# connection after `max_queries` answers; a reload that changes `idle`
# applies to the listener it keeps; bad lines refused with FILE:LINE.
. "$(dirname "$0")/../lib.sh"
need dig python3

DATA=$TESTDATA/integration
PORT=$(free_port)
plan 16

corefile() {    # corefile IDLE
	cat >"$T_TMP/Corefile" <<EOF2
global:$PORT {
	timeouts {
		read 1s
		idle $1
		write 5s
		max_queries 3
	}
	serviceentries {
		file $DATA/bar.yaml
	}
}
EOF2
}
corefile 2s

cat >"$T_TMP/client.py" <<'PY'
import socket, struct, sys, time

port, cmd = int(sys.argv[1]), sys.argv[2]

def query(qid):
    q = b"".join(bytes([len(l)]) + l for l in b"httpbin.bar.global".split(b".")) + b"\0"
    m = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1)
    return struct.pack(">H", len(m)) + m

def closed_after(s, t0, limit):
    # seconds from t0 until the server closes s (or "open" after limit)
    s.settimeout(0.1)
    while time.monotonic() - t0 < limit:
        try:
            if s.recv(4096) == b"":
                return "closed %.1f" % (time.monotonic() - t0)
        except socket.timeout:
            pass
        except OSError:
            return "closed %.1f" % (time.monotonic() - t0)
    return "open"

s = socket.create_connection(("127.0.0.1", port), timeout=2)
if cmd == "idle":
    # one query, its answer, then silence
    s.sendall(query(1))
    s.recv(4096)
    print(closed_after(s, time.monotonic(), 12))
elif cmd == "trickle":
    # the length and two bytes, then nothing: a message that never ends
    t0 = time.monotonic()
    s.sendall(b"\x00\x28ab")
    print(closed_after(s, t0, 12))
elif cmd == "noread":
    # 150,000 queries (5 MB, more than the kernel's socket buffers take)
    # through a 4 kB receive window, nothing read for 4 s: has the server
    # closed the connection by then?
    s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.settimeout(2)
    try:
        s.sendall(b"".join(query(i % 65536) for i in range(150000)))
    except OSError:
        pass
    time.sleep(4)
    s.settimeout(1)
    state = "open"
    try:
        while True:
            if not s.recv(65536):
                state = "closed"
                break
    except socket.timeout:
        pass
    except OSError:
        state = "closed"
    print(state)
elif cmd == "max":
    # 5 queries in one write: how many answers before the close?
    s.sendall(b"".join(query(i) for i in range(5)))
    s.settimeout(3)
    buf, n = b"", 0
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        buf += b""
        print("no close", end=" ")
    while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
        buf = buf[2 + struct.unpack(">H", buf[:2])[0]:]
        n += 1
    print("answers=%d" % n)
PY
client() { python3 "$T_TMP/client.py" "$PORT" "$@"; }

start_globaldns to "$T_TMP/Corefile" || { echo "Bail out! globaldns did not start"; exit 1; }
is "$(q +short +tcp httpbin.bar.global)" 240.0.1.2 "answers over TCP with timeouts set"

client idle >"$T_TMP/idle.out" &
IDLE=$!
t=$(client trickle)
echo "# read 1s, a message that stops: $t s"
like "$t" '^closed (0\.9|1\.[0-9]|2\.[0-4])$' "read 1s: a message not whole 1 s after its first byte is closed (default 2 s)"
wait "$IDLE"
t=$(cat "$T_TMP/idle.out")
echo "# idle 2s: $t s"
like "$t" '^closed (1\.9|2\.[0-9]|3\.[0-4])$' "idle 2s: an idle connection is closed 2 s after its answer (default 10 s)"
is "$(client max)" "answers=3" "max_queries 3: 5 pipelined queries get 3 answers, then the connection is closed"

# a reload to idle 5s: the listener is kept, and its new connections wait 5 s
corefile 5s
kill -HUP "$GD_PID"
wait_until 10 grep -q "Reloading complete" "$T_TMP/to.log"
ok "$(grep -q "Reloading complete" "$T_TMP/to.log"; echo $?)" "SIGHUP: the reload completes"
t=$(client idle)
echo "# after the reload, idle 5s: $t s"
like "$t" '^closed (4\.9|5\.[0-9]|6\.[0-4])$' "after a reload to idle 5s, the kept listener closes an idle connection at 5 s"
stop_pid "$GD_PID"
is "$?" 0 "clean exit on SIGTERM"

# write: a client that never reads is closed once nothing moves for 2 s
# (with the default 10 s it is still open after 4)
WPORT=$(free_port)
for w in 2s 10s; do
	cat >"$T_TMP/w$w.Corefile" <<EOF2
global:$WPORT {
	timeouts {
		write $w
	}
	serviceentries {
		file $DATA/bar.yaml
	}
}
EOF2
	PORT=$WPORT start_globaldns "w$w" "$T_TMP/w$w.Corefile" || { echo "Bail out! globaldns did not start"; exit 1; }
	st=$(python3 "$T_TMP/client.py" "$WPORT" noread)
	echo "# write $w, a client that does not read for 4 s: $st"
	[ "$w" = 2s ] && is "$st" closed "write 2s: a client that stops reading is closed after 2 s without progress"
	[ "$w" = 10s ] && is "$st" open "write 10s: the same client is still served after 4 s"
	stop_pid "$GD_PID"
done

# ---- bad lines ----
bad() {         # bad DESCRIPTION REGEX TIMEOUTS-LINES...
	local what=$1 re=$2
	shift 2
	{ echo "global:$PORT {"; printf '%s\n' "$@"; echo "	serviceentries {"; echo "		file $DATA/bar.yaml"; echo "	}"; echo "}"; } >"$T_TMP/bad.Corefile"
	out=$("$GLOBALDNS" -validate -conf "$T_TMP/bad.Corefile" 2>&1)
	st=$?
	like "$st: $out" "^1: .*$re" "$what"
}
bad "no properties: refused with FILE:LINE" 'bad\.Corefile:2: timeouts: timeouts block with no timeouts or limits specified' \
	"	timeouts"
bad "an argument on the line: refused" 'bad\.Corefile:2: timeouts: takes no arguments' \
	"	timeouts 5s {" "		idle 5s" "	}"
bad "under 1 second: refused, as CoreDNS does" 'bad\.Corefile:3: timeouts: read "500ms": needs to be between 1 second and 24 hours' \
	"	timeouts {" "		read 500ms" "	}"
bad "over 24 hours: refused" 'bad\.Corefile:3: timeouts: idle "25h": needs to be between 1 second and 24 hours' \
	"	timeouts {" "		idle 25h" "	}"
bad "an unknown option: refused" "bad\\.Corefile:3: timeouts: unknown option: 'linger'" \
	"	timeouts {" "		linger 5s" "	}"
bad "max_queries not a number: refused" 'bad\.Corefile:3: timeouts: max_queries "-1": needs a whole number' \
	"	timeouts {" "		max_queries -1" "	}"
# a plain number is seconds, as in CoreDNS
{ echo "global:$PORT {"; echo "	timeouts {"; echo "		idle 30"; echo "	}"; echo "	serviceentries {"; echo "		file $DATA/bar.yaml"; echo "	}"; echo "}"; } >"$T_TMP/ok.Corefile"
"$GLOBALDNS" -validate -conf "$T_TMP/ok.Corefile" >/dev/null 2>&1
is "$?" 0 "idle 30 (a number: seconds) is accepted"
