# lib_manifest.sh -- reading Kubernetes manifests in tests (python3-yaml).
# Source after ../integration/lib.sh.
#
#   yq EXPR FILE...   evaluate the Python expression EXPR over the documents
#                     of the YAML files and print the result (str() of it;
#                     JSON for dicts and lists).  In EXPR:
#                       D              every document, in order
#                       o(KIND, NAME)  the one object of that kind and name
#                       F              the documents of each file: F[0], F[1]
#                       sel(SEL, L)    True when label selector SEL selects labels L

python3 -c 'import yaml' 2>/dev/null || skip_all "python3-yaml not installed"

yq() {
	python3 - "$@" <<'PY'
import json, sys, yaml
expr, files = sys.argv[1], sys.argv[2:]
F = [[d for d in yaml.safe_load_all(open(f)) if d] for f in files]
D = [d for ds in F for d in ds]
def o(kind, name, docs=None):
    m = [d for d in (docs if docs is not None else D)
         if d.get("kind") == kind and d.get("metadata", {}).get("name") == name]
    if len(m) != 1:
        raise SystemExit("%d objects %s/%s" % (len(m), kind, name))
    return m[0]
def sel(selector, labels):
    ml = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    return all(labels.get(k) == v for k, v in ml.items())
r = eval(expr)
print(json.dumps(r, sort_keys=True) if isinstance(r, (dict, list)) else r)
PY
}
