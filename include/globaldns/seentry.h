/*
 * seentry.h -- Istio ServiceEntry objects as globaldns needs them, and
 * Istio's validation rules for them.
 *
 * Every source (manifest files, the Kubernetes API) turns its JSON objects
 * into `struct se_entry` through se_from_json(); entries that fail Istio's
 * rules are not returned but recorded as rejects with namespace/name and a
 * reason.  The field meanings are in ../shared/K8S-API.md:
 *   spec.hosts        -> hosts (lowercased, trailing dot removed)
 *   spec.addresses    -> addrs (IPs, and CIDRs with a full mask /32 or /128;
 *                        wider CIDRs are skipped, not an error)
 *   status.addresses  -> status_addrs (VIPs Istio allocated; each may name
 *                        the host it belongs to)
 *   spec.resolution   -> resolution (NONE when absent)
 *   spec.ports        -> ports (name, number, protocol; for SRV records)
 *
 * JSON null counts as absent for every optional field (Kubernetes omits
 * zero values, and YAML writes an empty value as null).  Duplicate hosts or
 * addresses are kept: deduplicating is the registry's job.
 */
#ifndef GLOBALDNS_SEENTRY_H
#define GLOBALDNS_SEENTRY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

enum se_resolution {
	SE_RES_NONE = 0,
	SE_RES_STATIC,
	SE_RES_DNS,
	SE_RES_DNS_ROUND_ROBIN,
	SE_RES_DYNAMIC_DNS
};

/* An address: family AF_INET (4 bytes used) or AF_INET6 (16 bytes). */
struct se_addr {
	int family;
	uint8_t addr[16];
};

/* A status.addresses[] element: a VIP, for one host or (host NULL) all. */
struct se_status_addr {
	struct se_addr addr;
	char *host;                     /* lowercased, or NULL */
};

struct se_entry {
	char *ns;                       /* metadata.namespace ("default" if absent) */
	char *name;                     /* metadata.name */
	char *uid;                      /* metadata.uid, or NULL */
	char *resource_version;         /* metadata.resourceVersion, or NULL */
	char **hosts;                   /* lowercased, no trailing dot */
	size_t nhosts;
	struct se_addr *addrs;          /* usable spec.addresses, in order */
	size_t naddrs;
	struct se_status_addr *status_addrs;
	size_t nstatus_addrs;
	enum se_resolution resolution;
	struct se_port *ports;          /* spec.ports, in order; one block */
	size_t nports;
};

/*
 * Istio's port protocols (protocol.Parse, case-insensitive); an absent or
 * empty protocol is SE_PROTO_UNSET (Istio sniffs it).  SRV records put
 * SE_PROTO_UDP under _udp and every other under _tcp.
 */
enum se_protocol {
	SE_PROTO_UNSET = 0,
	SE_PROTO_TCP,
	SE_PROTO_UDP,
	SE_PROTO_GRPC,
	SE_PROTO_GRPC_WEB,
	SE_PROTO_HTTP,
	SE_PROTO_HTTP_PROXY,
	SE_PROTO_HTTP2,
	SE_PROTO_HTTPS,
	SE_PROTO_TLS,
	SE_PROTO_MONGO,
	SE_PROTO_REDIS,
	SE_PROTO_MYSQL
};

/*
 * A spec.ports[] element.  An entry's ports and their names are one
 * allocation (se_entry_set_ports): free(e->ports) releases both.
 */
struct se_port {
	const char *name;               /* a DNS-1123 label (lowercase) */
	uint16_t number;                /* 1-65535 */
	enum se_protocol protocol;
};

/* An entry that was skipped, and why. */
struct se_reject {
	char *ns;
	char *name;
	char *reason;
};

/* A growable list of entries plus the entries rejected while filling it. */
struct se_list {
	struct se_entry *items;
	size_t n, cap;
	struct se_reject *rejects;
	size_t nrejects, rejects_cap;
};

/*
 * Turn one ServiceEntry object into *e.  Unknown fields are ignored; fields
 * of the wrong JSON type, invalid hosts, bad addresses and unknown
 * resolutions make the entry invalid.  Returns 0 on success (caller owns e,
 * free with se_entry_clear), or -1 with the reason in why (e is left
 * cleared).  The object's kind/apiVersion are checked by the caller.
 *
 * Reasons name the field: "metadata.name: missing", "spec.hosts[1]: not a
 * string", "spec.addresses[0]: invalid address \"x\"".  On -1, errno is
 * ENOMEM if memory ran out (why is "out of memory"; the entry itself may be
 * fine) and EINVAL if the entry is invalid.
 *
 * status.addresses[]: elements without a usable "value" (missing, or not a
 * single IP) are skipped; "host" is only lowercased and stripped of its
 * trailing dot, not validated (a host that matches none of spec.hosts
 * simply never matches).
 */
int se_from_json(const cJSON *obj, struct se_entry *e, char *why, size_t whylen);

/*
 * Istio's host rules: length 1-255; first label "*" alone or a DNS-1123
 * label; the others DNS-1123 labels; an optional trailing dot; the last
 * label not all digits.  Returns 1 if valid, else 0 with the reason in why.
 * Letters are accepted in either case (callers store hosts lowercased); a
 * lone "*" (or "*.") is rejected, as Istio's ServiceEntry validation does.
 * Stricter than Istio in two places, both as the contract in K8S-API.md
 * asks: "*foo.x" is rejected (Istio's regexp allows "*foo" as a first
 * label), and the all-digits test also applies when there is a trailing
 * dot ("a.123." is rejected).  why may be NULL.
 */
int se_host_valid(const char *host, char *why, size_t whylen);

/*
 * Parse "1.2.3.4", "2001:db8::1", "1.2.3.4/32" or "2001:db8::1/128".
 * Returns 1 and fills *a; 0 for a valid CIDR with a wider mask (skip it);
 * -1 if the text is not an address or CIDR.  The prefix length is 1-3
 * decimal digits without leading zeros (as Go's netip.ParsePrefix), at most
 * 32 or 128; host bits set below the mask are accepted.  a may be NULL; it
 * is written only when 1 is returned.
 */
int se_parse_addr(const char *text, struct se_addr *a);

/* Istio's name of a protocol ("HTTP", "GRPC-Web", ...; "" when unset). */
const char *se_protocol_name(enum se_protocol p);

/* Name of a resolution value ("NONE", "STATIC", ...). */
const char *se_resolution_name(enum se_resolution r);

/* Free what e owns and zero it; NULL is fine. */
void se_entry_clear(struct se_entry *e);

void se_list_init(struct se_list *l);
/*
 * Append; takes ownership of *e's contents (e is zeroed). 0, or -1 (ENOMEM),
 * and then *e is untouched and still the caller's to clear.
 */
int se_list_push(struct se_list *l, struct se_entry *e);
/*
 * Record a rejected entry (strings are copied; a NULL ns or name, for an
 * object that had none, is stored as NULL). 0, or -1.
 */
int se_list_reject(struct se_list *l, const char *ns, const char *name,
	const char *reason);
/*
 * Move everything from src to the end of dst; src is left empty. 0 or -1
 * (ENOMEM), and then both lists are unchanged.
 */
int se_list_take(struct se_list *dst, struct se_list *src);
void se_list_free(struct se_list *l);

/*
 * Set e->ports (which must be NULL) to a copy of ports[0..n), names
 * included, in one allocation.  0, or -1 (ENOMEM) and e unchanged.
 */
int se_entry_set_ports(struct se_entry *e, const struct se_port *ports,
	size_t n);

/* Deep copy of src into dst; 0, or -1 (ENOMEM) with dst cleared. */
int se_entry_copy(struct se_entry *dst, const struct se_entry *src);
/*
 * Append deep copies of src's entries and rejects to dst.  0, or -1
 * (ENOMEM), and then dst is unchanged.
 */
int se_list_copy(struct se_list *dst, const struct se_list *src);

/*
 * A list packed into one allocation (entries and rejects as bytes): what a
 * source keeps between rebuilds costs its size, not an allocation per
 * string.  se_list_pack: 0, or -1 (ENOMEM) with *out empty.
 * se_packed_unpack appends deep copies to dst: 0, or -1 (ENOMEM) and dst
 * unchanged.  A zeroed se_packed is an empty list.
 */
struct se_packed {
	char *data;
	size_t len;
	size_t n, nrejects;
};
int se_list_pack(const struct se_list *l, struct se_packed *out);
int se_packed_unpack(const struct se_packed *pk, struct se_list *dst);
void se_packed_free(struct se_packed *pk);

/*
 * Add every ServiceEntry found in one decoded JSON document to l: a single
 * ServiceEntry, or a List / ServiceEntryList with "items".  Objects of other
 * kinds are ignored (returns how many objects were not ServiceEntries in
 * *ignored if not NULL); apiVersion must be networking.istio.io/v1,
 * v1beta1 or v1alpha3.  Invalid entries are recorded with se_list_reject()
 * and logged as "[WARNING] plugin/serviceentries: skipping NS/NAME: REASON"
 * prefixed with `origin` (a file name or API URL).  Returns 0, or -1 on
 * memory exhaustion.
 *
 * The log line is "plugin/serviceentries: ORIGIN: skipping NS/NAME: REASON"
 * ("?" for a missing name; names escaped with se_printable).  A ServiceEntry
 * with an apiVersion outside networking.istio.io/{v1,v1beta1,v1alpha3} is
 * rejected.  Items of a ServiceEntryList without kind or apiVersion take
 * ServiceEntry and the list's apiVersion.  Lists are not nested: a List
 * inside a List is ignored.  *ignored also counts documents and items that
 * are not objects (logged), and is set, not added to.
 */
int se_list_add_json(struct se_list *l, const cJSON *doc, const char *origin,
	size_t *ignored);

/*
 * Copy src into dst (dstlen bytes, always NUL-terminated when dstlen > 0)
 * for use in messages and log lines: '"', '\\', control characters and
 * non-ASCII bytes become \" \\ \xNN, and text that does not fit is cut
 * with "...".  src NULL prints as "?".  Returns dst.
 */
char *se_printable(char *dst, size_t dstlen, const char *src);

#endif
