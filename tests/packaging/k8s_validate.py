#!/usr/bin/python3
"""k8s_validate.py -- Kubernetes manifests against the Kubernetes API's
OpenAPI schema, as Debian ships it: the models of python3-kubernetes
(generated from the API's OpenAPI spec; Debian 12: client 22.6, API 1.22).

For every object: its apiVersion/kind must name a model; every field must
be one the model has (unknown or misspelt fields are errors, as with
`kubectl apply --validate=strict`); every value must have the model's type
(string, integer, boolean, list, map, object); required fields must be
there (the models' own checks).

  k8s_validate.py FILE...   one line per object: "ok FILE#N KIND NS/NAME" or
                            "not ok FILE#N KIND NS/NAME: ERRORS"; exit 1
                            when any object is invalid

Run it with Debian's /usr/bin/python3 (python3-kubernetes, python3-yaml).
"""
import re
import sys

import yaml
from kubernetes.client import Configuration, models

CONF = Configuration()
CONF.client_side_validation = True


def model_of(api_version, kind):
    version = api_version.split("/")[-1]
    return getattr(models, version[:1].upper() + version[1:] + kind, None)


def check(value, typ, path, errs):
    if value is None:
        return
    m = re.fullmatch(r"list\[(.*)\]", typ) or re.fullmatch(r"dict\([^,]*, (.*)\)", typ)
    if m:   # list[T] or dict(str, T)
        is_list = typ.startswith("list")
        if not isinstance(value, list if is_list else dict):
            errs.append("%s: a %s is expected" % (path, "list" if is_list else "map"))
            return
        for k, v in (enumerate(value) if is_list else value.items()):
            check(v, m.group(1), ("%s[%d]" if is_list else "%s.%s") % (path, k), errs)
        return
    simple = {"str": str, "int": int, "float": (int, float), "bool": bool,
              "datetime": str, "date": str}
    if typ in simple:
        if isinstance(value, bool) and typ != "bool" or not isinstance(value, simple[typ]):
            errs.append("%s: %r is not a %s" % (path, value, typ))
        return
    if typ == "object":   # IntOrString, Quantity, RawExtension
        return
    cls = getattr(models, typ, None)
    if cls is None:
        errs.append("%s: no model %s" % (path, typ))
        return
    if not isinstance(value, dict):
        errs.append("%s: an object (%s) is expected" % (path, typ))
        return
    by_json = {j: a for a, j in cls.attribute_map.items()}
    for k in value:
        if k not in by_json:
            errs.append("%s: unknown field %r in %s" % (path, k, typ))
    # the model's setters check required fields (and a few enums)
    inst = cls.__new__(cls)
    inst.local_vars_configuration = CONF
    for attr, sub in cls.openapi_types.items():
        v = value.get(cls.attribute_map[attr])
        try:
            setattr(inst, attr, v)
        except ValueError as e:
            errs.append("%s.%s: %s" % (path, cls.attribute_map[attr], e))
        check(v, sub, "%s.%s" % (path, cls.attribute_map[attr]), errs)


def main(files):
    bad = 0
    for f in files:
        for n, obj in enumerate(yaml.safe_load_all(open(f)), 1):
            if not obj:
                continue
            meta = obj.get("metadata") or {}
            where = "%s#%d %s %s/%s" % (f, n, obj.get("kind"), meta.get("namespace", ""), meta.get("name"))
            cls = model_of(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
            if cls is None:
                print("not ok %s: no schema for apiVersion %s kind %s" % (where, obj.get("apiVersion"), obj.get("kind")))
                bad += 1
                continue
            errs = []
            check(obj, cls.__name__, obj.get("kind"), errs)
            if errs:
                print("not ok %s: %s" % (where, "; ".join(errs)))
                bad += 1
            else:
                print("ok %s" % where)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
