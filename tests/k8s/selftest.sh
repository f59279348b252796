#!/bin/bash
# Self-test of the fake Kubernetes API server (tests/k8s/fake_apiserver.py).
# Prints TAP. Exit 0 on success, 1 on failure, 77 if python3/openssl/curl is missing.
# Only 127.0.0.1 traffic; every curl has --max-time; the server is always killed.
# TIMING=1 adds a timestamp to each "ok" line.
set -u
case $0 in */*) HERE=${0%/*} ;; *) HERE=. ;; esac
HERE=$(cd "$HERE" && pwd)
FAKE="$HERE/fake_apiserver.py"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    for c in /usr/bin/python3 python3; do
        if command -v "$c" >/dev/null 2>&1; then PY=$(command -v "$c"); break; fi
    done
fi
[ -n "$PY" ] || { echo "1..0 # SKIP python3 missing"; exit 77; }
for tool in openssl curl; do
    command -v $tool >/dev/null 2>&1 || { echo "1..0 # SKIP $tool missing"; exit 77; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fake-k8s-selftest.XXXXXX")
D="$WORK/srv"
SPID=""
WATCHDOG=""
cleanup() {
    [ -n "${CHECKER_PID_SAVED:-}" ] && kill "$CHECKER_PID_SAVED" 2>/dev/null
    if [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; then
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null
    fi
    [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
    jobs -p | while read -r p; do kill "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "Bail out! interrupted or timed out"; exit 1' INT TERM HUP PIPE
# whole-test bound: 100 s (read -t on a FIFO: builtins only, so killing $WATCHDOG ends it)
mkfifo "$WORK/watchdog"
( read -r -t 100 <>"$WORK/watchdog"; kill -TERM $$ ) >/dev/null 2>&1 &
WATCHDOG=$!

N=0
FAILS=0
ok() {  # ok DESCRIPTION COMMAND...
    local desc=$1; shift
    N=$((N + 1))
    if "$@"; then echo "ok $N - $desc${TIMING:+ [$(date +%s.%N | cut -c7-14)]}"; else echo "not ok $N - $desc"; FAILS=$((FAILS + 1)); fi
}

# A persistent Python checker (one interpreter for the whole run). Request lines:
# "c<TAB>FILE<TAB>EXPR" (is EXPR true? answers 0/1) or "v<TAB>FILE<TAB>EXPR" (value of EXPR).
# EXPR sees d (JSON body or None), raw (bytes, gunzipped), text, lines, events (parsed lines), chunks().
cat >"$WORK/check.py" <<'EOF'
import gzip, json, sys

def chunks(b):
    """Chunks of a raw (curl --raw) chunked body."""
    out = []
    while b:
        size, _, b = b.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out.append(b[:n]); b = b[n + 2:]
    return out

def parse(l):
    try:
        return json.loads(l)
    except ValueError:
        return None

def evaluate(path, expr):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except Exception:
            pass
    text = raw.decode("utf-8", "replace")
    d = parse(raw) if raw.strip() else None
    lines = text.split("\n")
    events = [parse(l) for l in lines if l.strip()]
    return eval(expr, {"json": json, "chunks": chunks}, dict(
        raw=raw, text=text, d=d, lines=lines, events=events)), text

for req in sys.stdin:
    mode, path, expr = req.rstrip("\n").split("\t", 2)
    try:
        r, text = evaluate(path, expr)
    except Exception as e:
        r, text = None, ""
        print("# check error: %r" % e, file=sys.stderr)
    if mode == "v":
        print("" if r is None else r, flush=True)
        continue
    if not r:
        print("# check failed: %s\n# on: %s" % (expr, text[:600].replace("\n", "\n#     ")), file=sys.stderr)
    print(0 if r else 1, flush=True)
EOF
coproc CHECKER { "$PY" -u "$WORK/check.py"; }
CHECKER_PID_SAVED=$CHECKER_PID
chk() {  # chk FILE EXPR: true if EXPR holds
    local r
    printf 'c\t%s\t%s\n' "$1" "$2" >&"${CHECKER[1]}"
    read -r r <&"${CHECKER[0]}"
    return "${r:-1}"
}
val() {  # val VAR FILE EXPR: VAR=value of EXPR
    local r
    printf 'v\t%s\t%s\n' "$2" "$3" >&"${CHECKER[1]}"
    read -r r <&"${CHECKER[0]}"
    printf -v "$1" '%s' "$r"
}
# control calls: curl for speed; the Python "ctl" CLI is tested separately below
ctl() { curl -sf --max-time 5 -H 'Content-Type: application/json' --data-binary "${2:-{\}}" \
        "http://127.0.0.1:$(cat "$D/control_port")/$1" >"$WORK/ctl.out" || echo "# ctl $1 failed" >&2; }
ctlq() { "$PY" "$FAKE" ctl "$D" "$@"; }
hdr() { grep -i "^$1:" "$WORK/h" | head -1 | cut -d: -f2- | tr -d ' \r'; }

# api PATH [curl args...]: body -> $WORK/b, headers -> $WORK/h, code -> $CODE, rc -> $RC, time -> $TIME
api() {
    local path=$1; shift
    local out
    out=$(curl -s --max-time 5 --cacert "$D/ca.crt" -H "Authorization: Bearer $(cat "$D/token")" \
        -o "$WORK/b" -D "$WORK/h" -w '%{http_code} %{time_total}' "$@" "$BASE$path")
    RC=$?
    CODE=${out%% *}; TIME=${out##* }
}
is() { [ "$1" = "$2" ] || { echo "# got '$1', want '$2'" >&2; return 1; }; }
jl() { chk "$WORK/b" "$1"; }                        # jl EXPR: check the last body
cj() { is "$CODE" "$1" && { [ -z "${2:-}" ] || jl "$2"; }; }   # cj CODE [EXPR]
hh() { grep -qi "^$1" "$WORK/h" || { echo "# no header '$1'" >&2; return 1; }; }
plain404() { cj 404 && hh 'content-type: text/plain' && is "$(cat "$WORK/b")" "404 page not found"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }   # ge A B: A >= B
notjson() { chk "$1" 'd is None and len(raw) > 0'; }

echo "# work dir $WORK, python $PY"
mkdir -p "$D"
# the battery below looks at exact chunking and client certificates:
# HTTP/1.1 to the fake itself, every body gzipped; the HTTP/2 front
# (nghttpx, the default) has its own part at the end
"$PY" "$FAKE" serve --dir "$D" --http1 --gzip-min 0 --bookmark-interval 5 --bookmark-jitter 0 >"$WORK/server.log" 2>&1 &
SPID=$!
for _ in $(seq 250); do [ -f "$D/ready" ] && break; sleep 0.02; done
ok "server starts and writes ready" test -f "$D/ready"
[ -f "$D/ready" ] || { cat "$WORK/server.log"; echo "Bail out! server did not start"; exit 1; }
PORT=$(cat "$D/port")
BASE="https://127.0.0.1:$PORT"
V1=/apis/networking.istio.io/v1
t() { for f in ca.crt client.crt client.key token control_port kubeconfig; do [ -s "$D/$f" ] || return 1; done; }
ok "state files written (ca.crt, client cert/key, token, control_port, kubeconfig)" t
ok "kubeconfig points at the server" grep -q "server: https://127.0.0.1:$PORT" "$D/kubeconfig"
ok "kubeconfig carries the token" grep -q "token: $(cat "$D/token")" "$D/kubeconfig"
t() { openssl x509 -in "$D/server.crt" -noout -text >"$WORK/cert.txt" && grep -q 'IP Address:127.0.0.1' "$WORK/cert.txt" && grep -q 'DNS:localhost' "$WORK/cert.txt"; }
ok "server cert has IP and DNS SANs" t
t() { openssl x509 -in "$D/client.crt" -noout -subject | grep -q 'O *= *system:masters, CN *= *globaldns-test' && openssl verify -CAfile "$D/ca.crt" "$D/client.crt" >/dev/null; }
ok "client cert CN=globaldns-test O=system:masters signed by the CA" t

# ---- authentication
noauth() { local o; o=$(curl -s --max-time 5 --cacert "$D/ca.crt" -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' "$@" "$BASE$V1/serviceentries"); CODE=$o; }
noauth
ok "401 without token, Status Unauthorized" cj 401 'd["kind"]=="Status" and d["reason"]=="Unauthorized" and d["code"]==401 and list(d)[:2]==["kind","apiVersion"]'
noauth -H "Authorization: Bearer nope"
ok "401 with a wrong token" cj 401
api $V1/serviceentries
ok "empty list: 200, items [] and continue \"\"" cj 200 'd["items"]==[] and d["metadata"]["continue"]=="" and d["kind"]=="ServiceEntryList"'

# ---- list pagination
ctl bulk '{"count":3,"namespace":"b"}'
ctl entries '{"items":[{"apiVersion":"networking.istio.io/v1","kind":"ServiceEntry","metadata":{"name":"zeta","namespace":"a","annotations":{"x":"y"}},"spec":{"hosts":["z.example.com"],"resolution":"DNS"}},{"metadata":{"name":"alpha","namespace":"a"},"spec":{"hosts":["a.example.com"],"addresses":["10.0.0.1"]},"status":{"addresses":[{"value":"240.240.0.1","host":"a.example.com"}]}}]}'
api "$V1/serviceentries?limit=2"
ok "page 1: 2 items in namespace/name order, remainingItemCount 3" jl '[i["metadata"]["namespace"]+"/"+i["metadata"]["name"] for i in d["items"]]==["a/alpha","a/zeta"] and d["metadata"]["remainingItemCount"]==3 and d["metadata"]["continue"]'
ok "items carry apiVersion, kind, metadata, spec, status" jl 'all(i["apiVersion"]=="networking.istio.io/v1" and i["kind"]=="ServiceEntry" and {"name","namespace","uid","resourceVersion","creationTimestamp","generation","managedFields"} <= set(i["metadata"]) for i in d["items"]) and d["items"][0]["status"]["addresses"][0]["value"]=="240.240.0.1" and d["items"][1]["metadata"]["annotations"]=={"x":"y"}'
ok "JSON keys sorted" jl 'raw == (json.dumps(d, sort_keys=True, separators=(",",":"))+"\n").encode()'
val LISTRV "$WORK/b" 'd["metadata"]["resourceVersion"]'
val C1 "$WORK/b" 'd["metadata"]["continue"]'
ctl entries '{"metadata":{"name":"aaa","namespace":"a"},"spec":{"hosts":["late.example.com"]}}'
api "$V1/serviceentries?limit=2&continue=$C1"
ok "page 2: next 2 items from the same snapshot and list RV" jl "[i['metadata']['name'] for i in d['items']]==['se-00000','se-00001'] and d['metadata']['remainingItemCount']==1 and d['metadata']['resourceVersion']=='$LISTRV'"
val C2 "$WORK/b" 'd["metadata"]["continue"]'
api "$V1/serviceentries?limit=2&continue=$C2"
ok "page 3: last item, continue \"\", no remainingItemCount" jl '[i["metadata"]["name"] for i in d["items"]]==["se-00002"] and d["metadata"]["continue"]=="" and "remainingItemCount" not in d["metadata"]'
ctl entries/delete '{"namespace":"a","name":"aaa"}'
t() { echo "$C1" | base64 -d 2>/dev/null | grep -q '"rv"'; }
ok "continue token is base64 JSON with the list RV" t
ctl expire-continue
api "$V1/serviceentries?limit=2&continue=$C2"
ok "expired continue token (expire-continue): 410 Expired" cj 410 'd["reason"]=="Expired" and d["code"]==410 and d["kind"]=="Status"'
ctl config '{"continue_ttl":0.2}'
api "$V1/serviceentries?limit=2"
val C1 "$WORK/b" 'd["metadata"]["continue"]'
sleep 0.3
api "$V1/serviceentries?limit=2&continue=$C1"
ok "continue token older than continue_ttl: 410 Expired" cj 410 'd["reason"]=="Expired"'
ctl config '{"continue_ttl":300}'
api "$V1/serviceentries?limit=2&resourceVersion=0"
ok "resourceVersion=0 ignores limit: one page of 5" jl 'len(d["items"])==5 and d["metadata"]["continue"]==""'
ctl config '{"max_page":1}'
api "$V1/serviceentries?limit=2"
ok "max_page caps a page below limit, continue set" jl 'len(d["items"])==1 and d["metadata"]["continue"]!=""'
ctl config '{"max_page":0}'
ctl fault '{"kind":"list","action":"empty_page","count":1}'
api "$V1/serviceentries?limit=2"
val C1 "$WORK/b" 'd["metadata"]["continue"]'
ok "empty_page fault: 0 items but continue" jl 'd["items"]==[] and d["metadata"]["continue"]!=""'
api "$V1/serviceentries?limit=2&continue=$C1"
ok "continue after an empty page gives the first items" jl '[i["metadata"]["name"] for i in d["items"]]==["alpha","zeta"]'

# ---- versions, paths, get
ctl versions '{"served":["v1alpha3"]}'
api "$V1/serviceentries"
ok "unserved version: 404 text/plain '404 page not found'" plain404
api "/apis/networking.istio.io/v1alpha3/serviceentries"
ok "served v1alpha3: apiVersion networking.istio.io/v1alpha3" jl 'd["apiVersion"]=="networking.istio.io/v1alpha3" and d["items"][0]["apiVersion"]=="networking.istio.io/v1alpha3"'
ctl versions '{"served":["v1","v1beta1","v1alpha3"]}'
api "/api/v1/pods"
ok "other path: 404 plain text" plain404
api "$V1/namespaces/a/serviceentries/zeta"
ok "GET one object" cj 200 'd["metadata"]["name"]=="zeta" and d["spec"]["hosts"]==["z.example.com"]'
api "$V1/namespaces/a/serviceentries/missing"
ok "GET missing object: 404 Status NotFound" cj 404 'd["reason"]=="NotFound"'

# ---- RBAC
ctl rbac '{"mode":"namespaces","namespaces":["a"]}'
api "$V1/serviceentries"
ok "RBAC namespaces: cluster-wide list 403 with the API server's message" cj 403 'd["reason"]=="Forbidden" and d["message"]=="serviceentries.networking.istio.io is forbidden: User \"system:serviceaccount:istio-system:istiocoredns\" cannot list resource \"serviceentries\" in API group \"networking.istio.io\" at the cluster scope"'
api "$V1/namespaces/a/serviceentries"
ok "RBAC namespaces: allowed namespace lists its entries only" cj 200 '{i["metadata"]["namespace"] for i in d["items"]}=={"a"}'
api "$V1/namespaces/b/serviceentries?watch=1"
ok "RBAC namespaces: other namespace 403 'cannot watch ... in the namespace'" cj 403 'd["message"].endswith("cannot watch resource \"serviceentries\" in API group \"networking.istio.io\" in the namespace \"b\"")'
ctl versions '{"served":["v1alpha3"]}'
api "$V1/serviceentries"
ok "403 comes before the unserved-version 404" cj 403
ctl versions '{"served":["v1","v1beta1","v1alpha3"]}'
ctl rbac '{"mode":"deny"}'
api "$V1/namespaces/a/serviceentries"
ok "RBAC deny: 403" cj 403
ctl rbac '{"mode":"allow"}'

# ---- watch
W="--cacert $D/ca.crt"
wcurl() { curl -s -N --max-time "${MT:-5}" $W -H "Authorization: Bearer $(cat "$D/token")" "$@"; }
api "$V1/serviceentries"
val LISTRV "$WORK/b" 'd["metadata"]["resourceVersion"]'
wcurl -D "$WORK/w1.h" -o "$WORK/w1" "$BASE$V1/serviceentries?watch=1&resourceVersion=$LISTRV&timeoutSeconds=2" & P1=$!
wcurl -o "$WORK/w2" "$BASE$V1/namespaces/b/serviceentries?watch=true&resourceVersion=$LISTRV&timeoutSeconds=2" & P2=$!
sleep 0.4
ctl entries '{"metadata":{"name":"new","namespace":"a"},"spec":{"hosts":["n.example.com"]}}'
ctl entries '{"metadata":{"name":"new","namespace":"a"},"spec":{"hosts":["n2.example.com"]}}'
ctl entries/delete '{"namespace":"a","name":"new"}'
ctl entries '{"metadata":{"name":"se-00001","namespace":"b"},"spec":{"hosts":["changed.b.global"]}}'
wait $P1; R1=$?; wait $P2
t() { is "$R1" 0 && grep -qi '^transfer-encoding: chunked' "$WORK/w1.h" && grep -q '^HTTP/1.1 200' "$WORK/w1.h"; }
ok "watch: 200 chunked, ends cleanly at timeoutSeconds" t
ok "watch: ADDED, MODIFIED, DELETED (last state), MODIFIED; RVs rise" chk "$WORK/w1" '[e["type"] for e in events]==["ADDED","MODIFIED","DELETED","MODIFIED"] and events[2]["object"]["spec"]["hosts"]==["n2.example.com"] and [int(e["object"]["metadata"]["resourceVersion"]) for e in events]==sorted(int(e["object"]["metadata"]["resourceVersion"]) for e in events) and text.startswith("{\"type\":\"ADDED\",\"object\":{")'
ok "namespaced watch only sees its namespace" chk "$WORK/w2" '[(e["type"], e["object"]["metadata"]["name"]) for e in events]==[("MODIFIED","se-00001")]'
# Independent watches run in parallel; each injected fault is aimed at one of them with
# "match" on a "t=NAME&" query parameter (the API server ignores unknown parameters).
ctl config '{"bookmark_interval":0.3}'
fault() { ctl fault "$1"; }
fault '{"kind":"watch","action":"chunking","chunk_mode":"split","split_delay":0.02,"match":"t=c1&","count":1}'
fault '{"kind":"watch","action":"chunking","chunk_mode":"pack","pack":3,"match":"t=c2&","count":1}'
fault '{"kind":"watch","action":"chunking","chunk_mode":"mixed","pack":3,"match":"t=c3&","count":1}'
fault '{"kind":"watch","action":"cut_watch","after":2,"match":"t=w8&","count":1}'
fault '{"kind":"watch","action":"close_watch","match":"t=w9&","count":1}'
fault '{"kind":"watch","action":"stall","seconds":5,"match":"t=w10&","count":1}'
fault '{"kind":"watch","action":"wrong_types","variant":"hosts_number","match":"t=w11&","count":1}'
fault '{"kind":"watch","action":"invalid_json","match":"t=w12&","count":1}'
fault '{"kind":"watch","action":"trickle","bytes":200,"delay":0.01,"match":"t=w13&","count":1}'
BG=""
bgwatch() {  # bgwatch NAME QUERY [curl args]: body -> $WORK/NAME, "code time" -> NAME.out, rc -> NAME.rc
    local name=$1 q=$2; shift 2
    { wcurl -w '%{http_code} %{time_total}' -o "$WORK/$name" "$@" "$BASE$V1/serviceentries?t=$name&$q" >"$WORK/$name.out"
      echo $? >"$WORK/$name.rc"; } &
    BG="$BG $!"
}
bgwatch w3 "watch=1&timeoutSeconds=1"
bgwatch w4 "watch=1&resourceVersion=$LISTRV&allowWatchBookmarks=true&timeoutSeconds=1"
bgwatch w5 "watch=1&resourceVersion=$LISTRV&timeoutSeconds=1"
for c in c1 c2 c3; do bgwatch $c "watch=1&timeoutSeconds=1" --raw; done
bgwatch w8 "watch=1&timeoutSeconds=1"
bgwatch w9 "watch=1&timeoutSeconds=3"
MT=1 bgwatch w10 "watch=1"
bgwatch w11 "watch=1&timeoutSeconds=1"
bgwatch w12 "watch=1&timeoutSeconds=1"
bgwatch w13 "watch=1&timeoutSeconds=1" --raw
wait $BG
rc() { cat "$WORK/$1.rc"; }
out() { cat "$WORK/$1.out"; }
ok "watch without resourceVersion: ADDED for every object first" chk "$WORK/w3" '[e["type"] for e in events]==["ADDED"]*5'
ok "BOOKMARK events with only apiVersion, kind, metadata.resourceVersion" chk "$WORK/w4" 'any(e["type"]=="BOOKMARK" for e in events) and all(set(e["object"])=={"apiVersion","kind","metadata"} and list(e["object"]["metadata"])==["resourceVersion"] for e in events if e["type"]=="BOOKMARK")'
ok "no BOOKMARK without allowWatchBookmarks" chk "$WORK/w5" 'len(events)==4 and not any(e["type"]=="BOOKMARK" for e in events)'
ok "chunking split: each event across two chunks" chk "$WORK/c1" 'len(chunks(raw))==10 and not chunks(raw)[0].endswith(b"\n") and b"".join(chunks(raw)).count(b"\n")==5'
ok "chunking pack: several events in one chunk" chk "$WORK/c2" '[c.count(b"\n") for c in chunks(raw)]==[3,2]'
ok "chunking mixed: a chunk holds events and a half" chk "$WORK/c3" 'chunks(raw)[0].count(b"\n")==2 and not chunks(raw)[0].endswith(b"\n") and b"".join(chunks(raw)).count(b"\n")==5'
t() { is "$(rc w8)" 18 && chk "$WORK/w8" 'len(lines)==3 and lines[2] and events[2] is None and events[1]["type"]=="ADDED"'; }
ok "fault cut_watch: 2 events, half an object, connection dropped" t
t() { O=$(out w9); is "$(rc w9) ${O%% *}" "0 200" && [ ! -s "$WORK/w9" ] && ge 2.5 "${O##* }"; }
ok "fault close_watch: 200, no events, ends at once" t
t() { is "$(rc w10) $(out w10 | cut -d' ' -f1)" "28 200" && [ ! -s "$WORK/w10" ]; }
ok "fault stall on a watch: headers, then silence" t
ok "fault wrong_types on a watch event" chk "$WORK/w11" 'events[0]["object"]["spec"]["hosts"]==42 and len(events)==5'
ok "fault invalid_json on a watch" chk "$WORK/w12" 'len(events)==1 and events[0] is None'
ok "fault trickle on a watch: small chunks, events intact" chk "$WORK/w13" 'max(len(c) for c in chunks(raw))<=200 and [json.loads(l)["type"] for l in b"".join(chunks(raw)).decode().splitlines()]==["ADDED"]*5'
ctl config '{"bookmark_interval":5}'
ctl compact
CODE=$(wcurl -w '%{http_code}' -o "$WORK/w6" "$BASE$V1/serviceentries?watch=1&resourceVersion=2&timeoutSeconds=3")
t() { is "$CODE" 200 && chk "$WORK/w6" 'len(events)==1 and events[0]["type"]=="ERROR" and events[0]["object"]=={"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":events[0]["object"]["message"],"reason":"Expired","code":410} and events[0]["object"]["message"].startswith("too old resource version: 2 (")'; }
ok "too old RV: 200, one ERROR 410 'too old resource version', then the end" t
MT=6 wcurl -o "$WORK/w7" "$BASE$V1/serviceentries?watch=1&resourceVersion=$LISTRV" & P7=$!
sleep 0.3; ctl close-watches
wait $P7; R7=$?
ok "close-watches ends open watch streams cleanly" is "$R7" 0
ctl config '{"chunk_mode":"split","split_delay":0.01}'
wcurl --raw "$BASE$V1/serviceentries?watch=1&timeoutSeconds=1" >"$WORK/c4"
ok "config chunk_mode split applies to all watches" chk "$WORK/c4" 'len(chunks(raw))==10'
ctl config '{"chunk_mode":"event"}'

# ---- gzip, client certificate, token rotation
api "$V1/serviceentries" -H "Accept-Encoding: gzip" -H "Accept: application/json"
t() { is "$(head -c2 "$WORK/b" | od -An -tx1 | tr -d ' \n')" 1f8b && hh 'content-encoding: gzip' && jl 'len(d["items"])==5'; }
ok "gzip body and Content-Encoding when Accept-Encoding: gzip" t
api "$V1/serviceentries"
ok "no gzip without Accept-Encoding" sh -c "! grep -qi '^content-encoding' '$WORK/h'"
noauth --cert "$D/client.crt" --key "$D/client.key"
ok "client certificate authenticates without a token" cj 200 'len(d["items"])==5'
OLD=$(cat "$D/token")
ctl rotate-token
noauth -H "Authorization: Bearer $OLD"
ok "rotated: old token 401" cj 401
api "$V1/serviceentries"
t() { cj 200 && [ "$OLD" != "$(cat "$D/token")" ] && grep -q "token: $(cat "$D/token")" "$D/kubeconfig"; }
ok "rotated: new token from the token file 200, kubeconfig updated" t

# ---- faults
fault '{"kind":"list","code":429,"plain":true,"retry_after":2,"count":1}'
api "$V1/serviceentries"
t() { cj 429 && hh 'retry-after: 2' && hh 'content-type: text/plain' && grep -q '^Too many requests, please try again later.$' "$WORK/b"; }
ok "fault 429 plain text with Retry-After" t
api "$V1/serviceentries"
ok "fault count 1: next request is normal" cj 200
fault '{"kind":"list","code":429,"count":1}'
api "$V1/serviceentries"
t() { cj 429 'd["reason"]=="TooManyRequests"' && hh 'retry-after: 1'; }
ok "fault 429 Status TooManyRequests with Retry-After" t
fault '{"code":500,"count":1}'
api "$V1/serviceentries"
ok "fault 500 InternalError" cj 500 'd["reason"]=="InternalError"'
fault '{"code":503,"retry_after":3,"count":1}'
api "$V1/serviceentries"
t() { cj 503 'd["reason"]=="ServiceUnavailable" and d["details"]["retryAfterSeconds"]==3' && hh 'retry-after: 3'; }
ok "fault 503 with details.retryAfterSeconds and Retry-After" t
fault '{"code":504,"count":1}'
api "$V1/serviceentries"
ok "fault 504 Timeout" cj 504 'd["reason"]=="Timeout"'
for c in 401:Unauthorized 403:Forbidden 410:Expired; do
    fault "{\"code\":${c%%:*},\"count\":1}"
    api "$V1/serviceentries"
    ok "fault ${c%%:*} ${c##*:}" cj "${c%%:*}" "d[\"reason\"]==\"${c##*:}\""
done
fault '{"code":404,"count":1}'
api "$V1/serviceentries"
ok "fault 404 plain text" plain404
fault '{"code":500,"count":2}'
api "$V1/serviceentries"; A=$CODE; api "$V1/serviceentries"; B=$CODE; api "$V1/serviceentries"
ok "fault count 2: two 500s then 200" is "$A $B $CODE" "500 500 200"
fault '{"kind":"watch","code":500}'
api "$V1/serviceentries"; A=$CODE
api "$V1/serviceentries?watch=1&timeoutSeconds=1"; B=$CODE
ctl clear
api "$V1/serviceentries?watch=1&timeoutSeconds=1"
ok "fault kind watch: lists unaffected, watches fail until /clear" is "$A $B $CODE" "200 500 200"
fault '{"kind":"list","action":"hang","seconds":5,"count":1}'
api "$V1/serviceentries" --max-time 1
ok "fault hang: no answer (curl times out)" is "$RC $CODE" "28 000"
fault '{"kind":"list","action":"stall","seconds":5,"count":1}'
api "$V1/serviceentries" --max-time 1
ok "fault stall: headers, then nothing" is "$RC $CODE" "28 200"
fault '{"action":"hang_tls","seconds":3,"count":1}'
api "$V1/serviceentries" --max-time 1
ok "fault hang_tls: TCP accepted, no TLS handshake" is "$RC $CODE" "28 000"
fault '{"kind":"list","action":"trickle","bytes":500,"delay":0.1,"count":1}'
api "$V1/serviceentries"
t() { cj 200 'len(d["items"])==5' && ge "$TIME" 0.3; }
ok "fault trickle: slow but complete body" t
fault '{"kind":"list","action":"delay","seconds":0.5,"count":1}'
api "$V1/serviceentries"
t() { cj 200 && ge "$TIME" 0.5; }
ok "fault delay: normal answer after a delay" t
fault '{"kind":"list","action":"invalid_json","count":1}'
api "$V1/serviceentries"
t() { cj 200 && notjson "$WORK/b"; }
ok "fault invalid_json: 200 with a body that is not JSON" t
fault '{"kind":"list","action":"wrong_types","variant":"items_string","count":1}'
api "$V1/serviceentries"
ok "fault wrong_types items_string" cj 200 'isinstance(d["items"], str)'
fault '{"kind":"list","action":"wrong_types","variant":"hosts_number","count":1}'
api "$V1/serviceentries"
ok "fault wrong_types hosts_number on the first item only" cj 200 'd["items"][0]["spec"]["hosts"]==42 and isinstance(d["items"][1]["spec"]["hosts"], list)'
fault '{"kind":"list","action":"cut_list","fraction":0.5,"count":1}'
api "$V1/serviceentries"
t() { is "$RC $CODE" "18 200" && notjson "$WORK/b"; }
ok "fault cut_list: body cut mid-way (curl 18)" t
fault '{"kind":"list","action":"huge","mb":3,"count":1}'
api "$V1/serviceentries"
ok "fault huge: 3 MB padding annotation" cj 200 'len(raw) > 3*1024*1024 and len(d["items"][0]["metadata"]["annotations"]["fake.test/padding"])==3*1024*1024'
fault '{"kind":"list","code":500,"match":"continue=","count":1}'
api "$V1/serviceentries?limit=2"; A=$CODE
val C1 "$WORK/b" 'd["metadata"]["continue"]'
api "$V1/serviceentries?limit=2&continue=$C1"
ok "fault match: only continued pages fail" is "$A $CODE" "200 500"

# ---- request log
ctlq log >"$WORK/log.json"
ok "request log records limit/continue, auth kinds, statuses, headers, faults" chk "$WORK/log.json" 'any("limit=2" in e["path"] for e in d["entries"]) and any("continue=" in e["path"] for e in d["entries"]) and {"none","token","cert"} <= {e["auth"] for e in d["entries"]} and any(e["status"]==401 for e in d["entries"]) and any(e["accept"]=="application/json" and "gzip" in (e["accept_encoding"] or "") and e["gzip"] for e in d["entries"]) and any(e["kind"]=="watch" for e in d["entries"]) and any(e["fault"]=="hang" for e in d["entries"])'
ctl log/clear
ctlq log >"$WORK/log.json"
ok "log/clear empties the log" chk "$WORK/log.json" 'd["entries"]==[]'

# ---- bulk, reset, ctl errors
S=$(date +%s.%N)
ctl bulk '{"count":2000,"namespace":"bulk"}'
api "$V1/namespaces/bulk/serviceentries?limit=500"
ok "bulk 2000 entries; a page of 500 with remainingItemCount 1500" jl 'len(d["items"])==500 and d["metadata"]["remainingItemCount"]==1500 and d["items"][0]["spec"]["hosts"]==["svc-00000.bulk.global"] and d["items"][0]["spec"]["addresses"]==["240.0.0.1"]'
ok "bulk is quick (< 3 s)" ge $(( $(date +%s) + 3 )) "$S"
ctl reset
api "$V1/serviceentries"
ok "reset empties the store" cj 200 'd["items"]==[]'
ok "ctl: unknown endpoint fails" sh -c "! '$PY' '$FAKE' ctl '$D' nosuch '{}' >/dev/null"
ok "ctl: fault without an action is rejected" sh -c "! '$PY' '$FAKE' ctl '$D' fault '{\"kind\":\"list\"}' >/dev/null"

kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=""
ok "server stops on SIGTERM and removes ready" test ! -f "$D/ready"

# ---- the default server: HTTP/2 (nghttpx) behind the relay, realistic bookmarks
if command -v nghttpx >/dev/null 2>&1; then
D="$WORK/h2"
mkdir -p "$D"
"$PY" "$FAKE" serve --dir "$D" >"$WORK/server.log" 2>&1 &
SPID=$!
for _ in $(seq 500); do [ -f "$D/ready" ] && break; sleep 0.02; done
ok "default server starts (HTTP/2 front)" test -f "$D/ready"
PORT=$(cat "$D/port"); BASE="https://127.0.0.1:$PORT"
ok "protocol file says h2" is "$(cat "$D/protocol")" h2
ctl state
ok "defaults: bookmarks every 60 s (+ up to 1 s), gzip from 128 KiB, WatchList on" chk "$WORK/ctl.out" 'd["config"]["bookmark_interval"]==60 and d["config"]["bookmark_jitter"]==1 and d["config"]["gzip_min"]==131072 and d["config"]["watch_list"] is True and d["protocol"]=="h2"'
ctl bulk '{"count":3}'
out=$(curl -s --max-time 5 --cacert "$D/ca.crt" -H "Authorization: Bearer $(cat "$D/token")" -o /dev/null -w '%{http_version} %{http_code}' "$BASE$V1/serviceentries")
ok "a list over HTTP/2" is "$out" "2 200"
out=$(curl -s --http1.1 --max-time 5 --cacert "$D/ca.crt" -H "Authorization: Bearer $(cat "$D/token")" -o /dev/null -w '%{http_version} %{http_code}' "$BASE$V1/serviceentries")
ok "... and over HTTP/1.1 (ALPN)" is "$out" "1.1 200"
api "$V1/serviceentries" -H "Accept-Encoding: gzip"
ok "small bodies are not gzipped (under 128 KiB)" cj 200 'len(d["items"])==3 and raw[:1]==b"{"'
ctl bulk '{"count":600,"namespace":"big"}'
api "$V1/namespaces/big/serviceentries" -H "Accept-Encoding: gzip"
ok "a body over 128 KiB is gzipped" is "$(head -c2 "$WORK/b" | od -An -tx1 | tr -d ' \n')" 1f8b

# discovery, as kubectl reads it
noauth() { curl -s --max-time 5 --cacert "$D/ca.crt" -o "$WORK/b" -w '%{http_code}' "$@"; }
ok "/version without credentials" is "$(noauth "$BASE/version")" 200
ok "... gitVersion" jl 'd["major"]=="1" and d["gitVersion"].startswith("v1.")'
api /api
ok "/api: APIVersions v1" cj 200 'd["kind"]=="APIVersions" and d["versions"]==["v1"]'
api /apis
ok "/apis: APIGroupList with networking.istio.io, preferred v1" cj 200 'd["kind"]=="APIGroupList" and d["groups"][0]["name"]=="networking.istio.io" and d["groups"][0]["preferredVersion"]["version"]=="v1" and [v["version"] for v in d["groups"][0]["versions"]]==["v1","v1beta1","v1alpha3"]'
api /apis/networking.istio.io
ok "/apis/networking.istio.io: APIGroup" cj 200 'd["kind"]=="APIGroup" and d["name"]=="networking.istio.io"'
api $V1
ok "/apis/networking.istio.io/v1: serviceentries, namespaced, list and watch" cj 200 'd["kind"]=="APIResourceList" and d["resources"][0]["name"]=="serviceentries" and d["resources"][0]["namespaced"] and {"list","watch"} <= set(d["resources"][0]["verbs"])'
ok "discovery needs credentials" is "$(noauth "$BASE/apis")" 401
api "$V1/serviceentries" -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json'
ok "Table when asked (kubectl get): the CRD's columns, a row per object" cj 200 'd["kind"]=="Table" and [c["name"] for c in d["columnDefinitions"]]==["Name","Hosts","Location","Resolution","Age"] and len(d["rows"])==603 and d["rows"][0]["object"]["kind"]=="PartialObjectMetadata"'
if command -v kubectl >/dev/null 2>&1; then
	out=$(HOME=$WORK timeout 20 kubectl --server "$BASE" --certificate-authority "$D/ca.crt" --token "$(cat "$D/token")" get serviceentries -n default 2>&1)
	ok "kubectl --server lists the ServiceEntries" is "$(printf '%s\n' "$out" | awk 'NR>1 {print $1}' | tr '\n' ' ')" "se-00000 se-00001 se-00002 "
fi

# streaming lists (sendInitialEvents) and ListOptions validation
api "$V1/namespaces/default/serviceentries?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1" --max-time 4
ok "sendInitialEvents: ADDED for each object, then the initial-events-end bookmark" chk "$WORK/b" '[e["type"] for e in events][:4]==["ADDED"]*3+["BOOKMARK"] and events[3]["object"]["metadata"]["annotations"]=={"k8s.io/initial-events-end":"true"}'
api "$V1/serviceentries?watch=1&sendInitialEvents=true"
ok "sendInitialEvents without resourceVersionMatch: 422 Invalid" cj 422 'd["reason"]=="Invalid" and "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan" in d["message"]'
api "$V1/serviceentries?watch=1&resourceVersionMatch=NotOlderThan"
ok "resourceVersionMatch on a watch without sendInitialEvents: 422" cj 422 '"resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided" in d["message"]'
api "$V1/serviceentries?sendInitialEvents=true"
ok "sendInitialEvents on a list: 422" cj 422 '"sendInitialEvents is forbidden for list" in d["message"]'
ctl config '{"watch_list":false}'
api "$V1/serviceentries?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
ok "WatchList off: 422, as a server with the feature gate off" cj 422 '"sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled" in d["message"]'
ctl config '{"watch_list":true}'
api "$V1/serviceentries?resourceVersion=1&resourceVersionMatch=NotOlderThan&limit=1"
ok "a list NotOlderThan an old RV: the current state" cj 200 'len(d["items"])==1'
api "$V1/serviceentries?resourceVersion=2&resourceVersionMatch=Exact"
ok "a list Exact at an RV that is not the current one: 410" cj 410
t429() { cj 429 'd["reason"]=="TooManyRequests" and d["details"]["retryAfterSeconds"]==3' && is "$(hdr retry-after)" 3; }
fault '{"kind":"watch","code":429,"retry_after":3,"count":1}'
api "$V1/serviceentries?watch=1"
ok "429 with Retry-After on a watch" t429

# a silent connection: open, nothing relayed either way
ctl config '{"bookmark_interval":0.5,"bookmark_jitter":0}'
curl -sN --max-time 8 --cacert "$D/ca.crt" -H "Authorization: Bearer $(cat "$D/token")" \
	"$BASE$V1/serviceentries?watch=1&allowWatchBookmarks=true&resourceVersion=1" >"$WORK/silent" 2>/dev/null &
CPID=$!
sleep 1.5
ctl traffic
ok "the relay sets TCP_NODELAY and counts bytes" chk "$WORK/ctl.out" 'd["open"]>=1 and all(c["nodelay"] for c in d["connections"]) and d["bytes_down"]>0'
ctl silence '{}'
n1=$(grep -c BOOKMARK "$WORK/silent")
sleep 2
n2=$(grep -c BOOKMARK "$WORK/silent")
ok "silence: bookmarks flowed before ($n1), none while silent" is "$n2" "$n1"
ctl traffic
ok "... the connection stays open" chk "$WORK/ctl.out" 'd["open"]>=1 and all(c["silent"] for c in d["connections"])'
out=$(curl -s --max-time 5 --cacert "$D/ca.crt" -o /dev/null -w '%{http_code}' "$BASE/version")
ok "... new connections are not silenced" is "$out" 200
ctl silence '{"off":true}'
sleep 1.5
n3=$(grep -c BOOKMARK "$WORK/silent")
ok "silence off: bookmarks flow again" ge "$n3" $((n2 + 1))
ctl drop-connections
wait $CPID; RC=$?
ok "drop-connections cuts the open connection (curl $RC)" ge "$RC" 1
ctl config '{"bookmark_interval":60,"bookmark_jitter":1}'
fault '{"action":"hang_tls","seconds":2,"count":1}'
S=$(date +%s%N)
out=$(curl -s --max-time 5 --cacert "$D/ca.crt" -o /dev/null -w '%{http_code}' "$BASE/version")
ok "hang_tls at the relay: TCP accepted, no handshake for 2 s" ge $(( ($(date +%s%N) - S) / 1000000 )) 1900
NGPID=$(cat "$D/nghttpx_pid")
kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=""
t() { for _ in $(seq 50); do kill -0 "$NGPID" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
ok "default server stops on SIGTERM, nghttpx with it" t
fi
echo "1..$N"
if [ $FAILS -ne 0 ]; then
    echo "# $FAILS test(s) failed; server log:"; sed 's/^/# /' "$WORK/server.log" | tail -20
    exit 1
fi
exit 0
