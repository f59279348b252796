/*
 * grpc_compat.h -- what `grpc` and `proxy` share: a directive written as
 * several lines, each for a FROM zone, the longest matching one answering
 * (CoreDNS's old proxy did this; its grpc does it for one line), and
 * the reading of a line aimed at the istio-coredns-plugin.
 *
 * Istio's istiocoredns pod ran CoreDNS beside the istio-coredns-plugin, a
 * gRPC server on :8053 of the pod, and its Corefile sent the ServiceEntry
 * zones there: `proxy global 127.0.0.1:8053 { protocol grpc insecure }`
 * (CoreDNS before 1.4), then `grpc global 127.0.0.1:8053`.  globaldns is
 * that plugin: a line whose every target is a loopback address (127.0.0.0/8,
 * ::1, localhost) on port 8053 is read as "serve FROM from the
 * ServiceEntries of the in-cluster Kubernetes API" -- one `serviceentries`
 * instance for every such line of the block -- and the log says so once,
 * at start, with the native line.  Any other gRPC target is refused.
 *
 * Files: grpc_compat.c (this), grpc.c, proxy.c.
 */
#ifndef GLOBALDNS_PLUGINS_GRPC_COMPAT_H
#define GLOBALDNS_PLUGINS_GRPC_COMPAT_H

#include <stddef.h>

#include "globaldns/plugin.h"
#include "globaldns/wire.h"

#define GC_MAX_LINES 16
#define GC_MAX_EXCEPT 32

/* One line: its FROM and except zones, and who answers it. */
struct gc_line {
	struct wire_zone from;
	struct wire_zone except[GC_MAX_EXCEPT];
	size_t nexcept;
	int istio;                      /* answered by the shared serviceentries */
	const struct plugin_ops *ops;   /* else: this instance (forward) */
	void *state;
	char *note;                     /* istio: how the line was read (logged at start) */
};

struct gc {
	const char *name;               /* "grpc" or "proxy" */
	struct gc_line lines[GC_MAX_LINES];
	size_t nlines;
	void *se;                       /* the serviceentries instance of the istio lines */
	char *se_zones[GC_MAX_LINES * 2];
	size_t nse_zones;
	int se_block_zones;             /* one line covers the block's zones */
};

/* 1 if s ("127.0.0.1:8053", "[::1]:8053", "localhost:8053", with an
 * optional grpc:// or dns://) is the istio-coredns-plugin's address. */
int gc_is_plugin_address(const char *s);

/*
 * Line l (already holding from/except) is an istio line written as `text`
 * at d: note the zones it adds to the shared serviceentries and how it was
 * read.  0, or -1 with "FILE:LINE: NAME: ..." in err.
 */
int gc_add_istio(struct gc *g, struct gc_line *l, const struct plugin_ctx *ctx,
	const struct cf_directive *d, const char *text, char *err, size_t errlen);

/* After every line: make the shared serviceentries instance (if any line
 * is an istio one).  0 or -1 (err as above). */
int gc_finish(struct gc *g, const struct plugin_ctx *ctx,
	const struct cf_directive *d, char *err, size_t errlen);

/* One line of the directive into g (its FROM, TOs and properties). */
typedef int (*gc_line_fn)(struct gc *g, const struct plugin_ctx *ctx,
	const struct cf_directive *d, char *err, size_t errlen);

/* The setup of such a directive: every line of ctx->lines through
 * line_fn, then gc_finish; *state a struct gc. */
int gc_setup(const char *name, gc_line_fn line_fn, const struct plugin_ctx *ctx,
	const struct cf_directive *d, void **state, char *err, size_t errlen);

/* `except ZONES...` (property c of the line) into l.  0 or -1. */
int gc_except(struct gc *g, struct gc_line *l, const struct cf_directive *c,
	char *err, size_t errlen);

/* "grpc global 127.0.0.1:8053 { ... }" as written (for messages) */
void gc_line_text(const struct cf_directive *d, char *out, size_t len);

/* The plugin_ops functions of such a directive (state: struct gc *). */
int gc_start(void *state, const struct plugin_env *env);
enum plugin_result gc_serve(void *state, struct dns_request *req);
int gc_ready(void *state, char *why, size_t whylen);
void gc_free(void *state);
void gc_collect(void *state, const struct plugin_block *b, struct metrics_out *o);
int gc_introspect(void *state, struct cJSON *obj);

#endif
