/*
 * Conformance runner in C: executes every scenario (MessagePack files converted from the
 * JSON files in ffi-tests/conformance/scenarios) through the C ABI. See ../README.md for the format.
 *
 *   runner BACKEND URL_OR_DIR SCENARIO.msgpack...
 * BACKEND is "sqlite" (URL_OR_DIR: a directory for fresh database files) or "postgres"
 * (URL_OR_DIR: a database URL shared by all scenarios).
 */
#define _DEFAULT_SOURCE
#include <msgpack.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tasker.h"

/* ---- small helpers -------------------------------------------------------------------- */

static char g_fail[1024];
/* Records the failure message; returns 0 so it can end a check: `return FAIL(...)`. */
__attribute__((format(printf, 1, 2))) static int FAIL(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_fail, sizeof g_fail, fmt, ap);
    va_end(ap);
    return 0;
}

static msgpack_object nil_obj(void) {
    msgpack_object o;
    memset(&o, 0, sizeof o);
    o.type = MSGPACK_OBJECT_NIL;
    return o;
}
static int str_is(msgpack_object o, const char *s) {
    return o.type == MSGPACK_OBJECT_STR && o.via.str.size == strlen(s) && !memcmp(o.via.str.ptr, s, o.via.str.size);
}
static msgpack_object get(msgpack_object m, const char *key) {
    if (m.type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < m.via.map.size; i++)
            if (str_is(m.via.map.ptr[i].key, key)) return m.via.map.ptr[i].val;
    return nil_obj();
}
static int has(msgpack_object m, const char *key) { return get(m, key).type != MSGPACK_OBJECT_NIL; }
static int64_t as_int(msgpack_object o) {
    if (o.type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (int64_t)o.via.u64;
    if (o.type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return o.via.i64;
    if (o.type == MSGPACK_OBJECT_FLOAT64 || o.type == MSGPACK_OBJECT_FLOAT32) return (int64_t)o.via.f64;
    return 0;
}
static double as_double(msgpack_object o) {
    if (o.type == MSGPACK_OBJECT_FLOAT64 || o.type == MSGPACK_OBJECT_FLOAT32) return o.via.f64;
    return (double)as_int(o);
}
/* A NUL-terminated copy of a string object (static rotating buffers). */
static const char *cs(msgpack_object o) {
    static char bufs[8][512];
    static int next = 0;
    char *b = bufs[next++ % 8];
    if (o.type != MSGPACK_OBJECT_STR) return "";
    size_t n = o.via.str.size < 511 ? o.via.str.size : 511;
    memcpy(b, o.via.str.ptr, n);
    b[n] = 0;
    return b;
}
static int is_int(msgpack_object o) {
    return o.type == MSGPACK_OBJECT_POSITIVE_INTEGER || o.type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}
static int obj_equal(msgpack_object a, msgpack_object b) {
    if (is_int(a) && is_int(b)) return as_int(a) == as_int(b);
    if ((a.type == MSGPACK_OBJECT_FLOAT64 || is_int(a)) && (b.type == MSGPACK_OBJECT_FLOAT64 || is_int(b)))
        return as_double(a) == as_double(b);
    if (a.type != b.type) return 0;
    switch (a.type) {
    case MSGPACK_OBJECT_NIL: return 1;
    case MSGPACK_OBJECT_BOOLEAN: return a.via.boolean == b.via.boolean;
    case MSGPACK_OBJECT_STR: return a.via.str.size == b.via.str.size && !memcmp(a.via.str.ptr, b.via.str.ptr, a.via.str.size);
    case MSGPACK_OBJECT_ARRAY:
        if (a.via.array.size != b.via.array.size) return 0;
        for (uint32_t i = 0; i < a.via.array.size; i++)
            if (!obj_equal(a.via.array.ptr[i], b.via.array.ptr[i])) return 0;
        return 1;
    case MSGPACK_OBJECT_MAP:
        if (a.via.map.size != b.via.map.size) return 0;
        for (uint32_t i = 0; i < a.via.map.size; i++) {
            msgpack_object k = a.via.map.ptr[i].key;
            if (k.type != MSGPACK_OBJECT_STR) return 0;
            char key[512];
            snprintf(key, sizeof key, "%.*s", (int)k.via.str.size, k.via.str.ptr);
            if (!has(b, key) || !obj_equal(a.via.map.ptr[i].val, get(b, key))) return 0;
        }
        return 1;
    default: return 0;
    }
}
static void pstr(msgpack_packer *pk, const char *s) {
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}
static void pstrn(msgpack_packer *pk, const char *s, size_t n) {
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}
static void sleep_ms(long ms) { usleep((useconds_t)ms * 1000); }

/* ---- runner state --------------------------------------------------------------------- */

#define MAX_ALIASES 256
#define MAX_EXEC 8192
#define MAX_EVENTS 512
#define MAX_QUEUE 20000

static char g_run_id[64];
static const tasker_client *g_client;
static const char *g_template_name, *g_template_ns;
static struct { char name[64]; int64_t id; } g_alias[MAX_ALIASES];
static int g_nalias;
static struct { int64_t step_id; int count; } g_exec[MAX_EXEC];
static pthread_mutex_t g_exec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { int64_t task_id; char name[160]; } g_events[MAX_EVENTS];
static int g_nevents;
static struct { int kind; int64_t id; uint64_t delay; } g_queue[MAX_QUEUE];
static int g_qhead, g_qtail, g_queue_completed;
/* cancel_own_task: what each step's handler saw, by step name (expect_seen). */
#define MAX_SEEN 16
static struct { char step[64]; char seen[3][16]; } g_seen[MAX_SEEN];
static int g_nseen;

static int64_t alias(const char *name) {
    for (int i = 0; i < g_nalias; i++)
        if (!strcmp(g_alias[i].name, name)) return g_alias[i].id;
    return -1;
}
static void set_alias(const char *name, int64_t id) {
    for (int i = 0; i < g_nalias; i++)
        if (!strcmp(g_alias[i].name, name)) { g_alias[i].id = id; return; }
    if (g_nalias < MAX_ALIASES) {
        snprintf(g_alias[g_nalias].name, sizeof g_alias[0].name, "%s", name);
        g_alias[g_nalias++].id = id;
    }
}
static void record_exec(int64_t step_id) {
    pthread_mutex_lock(&g_exec_lock);
    for (int i = 0; i < MAX_EXEC; i++) {
        if (g_exec[i].step_id == step_id || g_exec[i].step_id == 0) {
            g_exec[i].step_id = step_id;
            g_exec[i].count++;
            break;
        }
    }
    pthread_mutex_unlock(&g_exec_lock);
}
static int exec_count(int64_t step_id) {
    for (int i = 0; i < MAX_EXEC && g_exec[i].step_id; i++)
        if (g_exec[i].step_id == step_id) return g_exec[i].count;
    return 0;
}

/* ---- behaviours ----------------------------------------------------------------------- */

typedef struct behaviour {
    char kind[32], cls[128], message[256];
    int64_t failures, ms;
    double retry_after; /* < 0: none */
    int64_t fail_at;    /* checkpointed: the item the first attempt fails at (< 0: none) */
} behaviour;

static behaviour *make_behaviour(msgpack_object spec) {
    behaviour *b = calloc(1, sizeof *b);
    snprintf(b->kind, sizeof b->kind, "%s", cs(get(spec, "behavior")));
    snprintf(b->cls, sizeof b->cls, "%s", has(spec, "class") ? cs(get(spec, "class")) : "TransientError");
    snprintf(b->message, sizeof b->message, "%s", cs(get(spec, "message")));
    b->failures = as_int(get(spec, "failures"));
    b->ms = as_int(get(spec, "ms"));
    b->retry_after = has(spec, "retry_after") ? as_double(get(spec, "retry_after")) : -1;
    b->fail_at = has(spec, "fail_at") ? as_int(get(spec, "fail_at")) : -1;
    return b;
}

/* Sorted dependency names, packed as an array. */
static int cmp_str(const void *a, const void *b) {
    const msgpack_object *x = a, *y = b;
    size_t n = x->via.str.size < y->via.str.size ? x->via.str.size : y->via.str.size;
    int c = memcmp(x->via.str.ptr, y->via.str.ptr, n);
    return c ? c : (int)x->via.str.size - (int)y->via.str.size;
}
static void pack_deps(msgpack_packer *pk, msgpack_object deps) {
    uint32_t n = deps.type == MSGPACK_OBJECT_MAP ? deps.via.map.size : 0;
    msgpack_object *names = calloc(n ? n : 1, sizeof *names);
    for (uint32_t i = 0; i < n; i++) names[i] = deps.via.map.ptr[i].key;
    qsort(names, n, sizeof *names, cmp_str);
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++) pstrn(pk, names[i].via.str.ptr, names[i].via.str.size);
    free(names);
}

/* checkpointed: the items each attempt processed, `before` (the checkpoint's list) plus this
   attempt's items[from..to). */
static void pack_processed(msgpack_packer *pk, msgpack_object before, msgpack_object items, int64_t from, int64_t to) {
    uint32_t n = before.type == MSGPACK_OBJECT_ARRAY ? before.via.array.size : 0;
    msgpack_pack_array(pk, n + 1);
    for (uint32_t i = 0; i < n; i++) msgpack_pack_object(pk, before.via.array.ptr[i]);
    msgpack_pack_array(pk, (size_t)(to - from));
    for (int64_t i = from; i < to; i++) msgpack_pack_object(pk, items.via.array.ptr[i]);
}

/* checkpointed (README): resumes at the checkpoint's cursor, records a checkpoint after each
   item, fails once at fail_at. Packs the output into `out`, or reports the failure: 0. */
static int checkpointed(behaviour *b, tasker_step_call *call, msgpack_object ctx, int64_t attempt, msgpack_packer *out) {
    msgpack_object items = get(get(get(ctx, "task"), "context"), "items"), cp = get(ctx, "checkpoint");
    msgpack_object before = get(cp, "processed");
    int64_t n = items.type == MSGPACK_OBJECT_ARRAY ? items.via.array.size : 0, cursor = as_int(get(cp, "cursor"));
    for (int64_t i = cursor; i < n; i++) {
        if (attempt == 1 && i == b->fail_at) {
            char msg[64];
            snprintf(msg, sizeof msg, "failed at item %lld", (long long)i);
            tasker_step_call_fail(call, msg, "CheckpointedFailure", true, -1, NULL, 0, NULL);
            return 0;
        }
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        pstr(&pk, "cursor");
        msgpack_pack_int64(&pk, i + 1);
        pstr(&pk, "processed");
        pack_processed(&pk, before, items, cursor, i + 1);
        tasker_error *err = NULL;
        tasker_result rc = tasker_step_call_checkpoint(call, (const uint8_t *)sb.data, sb.size, &err);
        msgpack_sbuffer_destroy(&sb);
        if (rc != TASKER_RESULT_OK) {
            tasker_step_call_fail(call, tasker_error_message(err), "CheckpointRefused", false, -1, NULL, 0, NULL);
            tasker_error_free(err);
            return 0;
        }
    }
    msgpack_pack_map(out, 2);
    pstr(out, "processed");
    pack_processed(out, before, items, cursor, n);
    pstr(out, "resumed_from");
    msgpack_pack_int64(out, cursor);
    return 1;
}

static const char *stop_name(tasker_step_call *call) {
    static const char *names[] = {"none", "cancelled", "timed_out", "claim_lost"};
    int32_t reason = -1;
    if (tasker_step_call_is_cancelled(call, &reason, NULL) != TASKER_RESULT_OK || reason < 0 || reason > 3) return "error";
    return names[reason];
}
static void *cancel_in_background(void *task_id) {
    tasker_cancel_task(g_client, *(int64_t *)task_id, NULL, NULL);
    return NULL;
}
/* cancel_own_task (README): the stop reason, its task cancelled from another thread, the stop
   reason again, then the heartbeat's result; remembered under the step's name and output. */
static void cancel_own_task(tasker_step_call *call, msgpack_object step, msgpack_packer *out) {
    const char *seen[3];
    int64_t task_id = 0;
    tasker_step_call_task_id(call, &task_id, NULL);
    seen[0] = stop_name(call);
    pthread_t t;
    pthread_create(&t, NULL, cancel_in_background, &task_id);
    pthread_join(t, NULL);
    seen[1] = stop_name(call);
    tasker_result hb = tasker_step_call_heartbeat(call, NULL, NULL);
    seen[2] = hb == TASKER_RESULT_OK ? "ok" : hb == TASKER_RESULT_STALE_CLAIM ? "stale_claim" : "error";
    if (g_nseen < MAX_SEEN) {
        snprintf(g_seen[g_nseen].step, sizeof g_seen[0].step, "%s", cs(get(step, "name")));
        for (int i = 0; i < 3; i++) snprintf(g_seen[g_nseen].seen[i], sizeof g_seen[0].seen[0], "%s", seen[i]);
        g_nseen++;
    }
    msgpack_pack_map(out, 1);
    pstr(out, "seen");
    msgpack_pack_array(out, 3);
    for (int i = 0; i < 3; i++) pstr(out, seen[i]);
}

static void handler(void *ud, tasker_step_call *call, const uint8_t *data, size_t len) {
    behaviour *b = ud;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_next(&up, (const char *)data, len, &off);
    msgpack_object ctx = up.data, step = get(ctx, "step"), task = get(ctx, "task");
    msgpack_object deps = get(ctx, "dependency_results"), context = get(task, "context");
    int64_t attempt = as_int(get(step, "attempt"));
    record_exec(as_int(get(step, "step_id")));
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    int output = 1;
    if (!strcmp(b->kind, "square")) {
        int64_t v = 0;
        if (deps.type == MSGPACK_OBJECT_MAP && deps.via.map.size > 0)
            for (uint32_t i = 0; i < deps.via.map.size; i++) v += as_int(get(deps.via.map.ptr[i].val, "value"));
        else
            v = as_int(get(context, "n"));
        msgpack_pack_map(&pk, 2);
        pstr(&pk, "value");
        msgpack_pack_int64(&pk, v * v);
        pstr(&pk, "deps");
        pack_deps(&pk, deps);
    } else if (!strcmp(b->kind, "echo")) {
        uint32_t n = 0;
        for (uint32_t i = 0; context.type == MSGPACK_OBJECT_MAP && i < context.via.map.size; i++)
            n += !str_is(context.via.map.ptr[i].key, "conformance_run");
        msgpack_pack_map(&pk, n + 2);
        for (uint32_t i = 0; context.type == MSGPACK_OBJECT_MAP && i < context.via.map.size; i++) {
            if (str_is(context.via.map.ptr[i].key, "conformance_run")) continue;
            msgpack_pack_object(&pk, context.via.map.ptr[i].key);
            msgpack_pack_object(&pk, context.via.map.ptr[i].val);
        }
        pstr(&pk, "step");
        msgpack_pack_object(&pk, get(step, "name"));
        pstr(&pk, "deps");
        pack_deps(&pk, deps);
    } else if (!strcmp(b->kind, "length")) {
        msgpack_object blob = get(context, "blob");
        int64_t points = 0;
        for (uint32_t i = 0; blob.type == MSGPACK_OBJECT_STR && i < blob.via.str.size; i++)
            points += ((unsigned char)blob.via.str.ptr[i] & 0xC0) != 0x80;
        msgpack_pack_map(&pk, 1);
        pstr(&pk, "length");
        msgpack_pack_int64(&pk, points);
    } else if (!strcmp(b->kind, "fail_then_succeed") && attempt <= b->failures) {
        char msg[128];
        snprintf(msg, sizeof msg, "transient failure on attempt %lld", (long long)attempt);
        tasker_step_call_fail(call, msg, b->cls, true, b->retry_after, NULL, 0, NULL);
        output = 0;
    } else if (!strcmp(b->kind, "fail_then_succeed")) {
        msgpack_pack_map(&pk, 1);
        pstr(&pk, "value");
        msgpack_pack_int64(&pk, attempt);
    } else if (!strcmp(b->kind, "fail_permanently") || !strcmp(b->kind, "fail_always")) {
        tasker_step_call_fail(call, b->message, b->cls, !strcmp(b->kind, "fail_always"), -1, NULL, 0, NULL);
        output = 0;
    } else if (!strcmp(b->kind, "raise")) {
        tasker_step_call_fail(call, b->message, "ConformanceError", true, -1, NULL, 0, NULL);
        output = 0;
    } else if (!strcmp(b->kind, "decide")) {
        msgpack_object choose = get(context, "choose");
        msgpack_pack_map(&pk, 1);
        pstr(&pk, "activate");
        if (choose.type == MSGPACK_OBJECT_ARRAY) msgpack_pack_object(&pk, choose);
        else msgpack_pack_array(&pk, 0);
    } else if (!strcmp(b->kind, "batch_item")) {
        /* A batch worker: {"value": inputs.index}, or a permanent BadBatch at context.fail_index. */
        int64_t index = as_int(get(get(step, "inputs"), "index"));
        msgpack_object fail = get(context, "fail_index");
        if (fail.type != MSGPACK_OBJECT_NIL && as_int(fail) == index) {
            char msg[64];
            snprintf(msg, sizeof msg, "bad batch %lld", (long long)index);
            tasker_step_call_fail(call, msg, "BadBatch", false, -1, NULL, 0, NULL);
            output = 0;
        } else {
            msgpack_pack_map(&pk, 1);
            pstr(&pk, "value");
            msgpack_pack_int64(&pk, index);
        }
    } else if (!strcmp(b->kind, "split")) {
        /* A batchable step: batch_count batches {"index": i}. */
        msgpack_object count = get(context, "batch_count");
        uint64_t n = count.type == MSGPACK_OBJECT_POSITIVE_INTEGER ? count.via.u64 : 0;
        msgpack_pack_map(&pk, 1);
        pstr(&pk, "batches");
        msgpack_pack_array(&pk, (size_t)n);
        for (uint64_t i = 0; i < n; i++) {
            msgpack_pack_map(&pk, 1);
            pstr(&pk, "index");
            msgpack_pack_uint64(&pk, i);
        }
    } else if (!strcmp(b->kind, "checkpointed")) {
        output = checkpointed(b, call, ctx, attempt, &pk);
    } else if (!strcmp(b->kind, "cancel_own_task")) {
        cancel_own_task(call, step, &pk);
    } else if (!strcmp(b->kind, "sleep")) {
        sleep_ms(b->ms);
        msgpack_pack_map(&pk, 1);
        pstr(&pk, "value");
        msgpack_pack_int64(&pk, 1);
    } else {
        tasker_step_call_fail(call, "unknown behavior", "RunnerError", false, -1, NULL, 0, NULL);
        output = 0;
    }
    if (output) tasker_step_call_set_output(call, (const uint8_t *)buf.data, buf.size, NULL);
    msgpack_sbuffer_destroy(&buf);
    msgpack_unpacked_destroy(&up);
}

static void free_behaviour(void *ud) { free(ud); }

static void on_event(void *ud, const uint8_t *data, size_t len) {
    (void)ud;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_next(&up, (const char *)data, len, &off);
    if (g_nevents < MAX_EVENTS) {
        msgpack_object step = get(up.data, "step_name");
        g_events[g_nevents].task_id = as_int(get(up.data, "task_id"));
        if (step.type == MSGPACK_OBJECT_STR)
            snprintf(g_events[g_nevents].name, sizeof g_events[0].name, "%s:%s", cs(get(up.data, "name")), cs(step));
        else
            snprintf(g_events[g_nevents].name, sizeof g_events[0].name, "%s", cs(get(up.data, "name")));
        g_nevents++;
    }
    msgpack_unpacked_destroy(&up);
}

static int32_t q_task(void *ud, int64_t id, uint64_t delay) {
    (void)ud;
    if (g_qtail >= MAX_QUEUE) return 1;
    g_queue[g_qtail].kind = 0, g_queue[g_qtail].id = id, g_queue[g_qtail++].delay = delay;
    return 0;
}
static int32_t q_step(void *ud, int64_t id, uint64_t delay) {
    (void)ud;
    if (g_qtail >= MAX_QUEUE) return 1;
    g_queue[g_qtail].kind = 1, g_queue[g_qtail].id = id, g_queue[g_qtail++].delay = delay;
    return 0;
}

/* ---- calls ---------------------------------------------------------------------------- */

static int call_ok(tasker_result rc, tasker_error *err, const char *what) {
    if (rc == TASKER_RESULT_OK) return 1;
    FAIL("%s failed: %s: %s", what, tasker_result_name(rc), tasker_error_message(err));
    tasker_error_free(err);
    return 0;
}

/* Reads a MessagePack document into `up` (caller destroys). */
static int read_view(int64_t task_id, msgpack_unpacked *up, tasker_bytes *bytes) {
    tasker_error *err = NULL;
    if (!call_ok(tasker_task_view(g_client, task_id, bytes, &err), err, "task_view")) return 0;
    size_t off = 0;
    msgpack_unpacked_init(up);
    msgpack_unpack_next(up, (const char *)bytes->data, bytes->len, &off);
    return 1;
}

static msgpack_object view_step(msgpack_object view, msgpack_object name) {
    msgpack_object steps = get(view, "steps");
    for (uint32_t i = 0; steps.type == MSGPACK_OBJECT_ARRAY && i < steps.via.array.size; i++)
        if (obj_equal(get(steps.via.array.ptr[i], "name"), name)) return steps.via.array.ptr[i];
    return nil_obj();
}

static int64_t step_id_of(int64_t task_id, msgpack_object name) {
    msgpack_unpacked up;
    tasker_bytes b = {0};
    if (!read_view(task_id, &up, &b)) return -1;
    int64_t id = as_int(get(view_step(up.data, name), "step_id"));
    msgpack_unpacked_destroy(&up);
    tasker_bytes_free(&b);
    return id ? id : -1;
}

/* Creates a task; context = spec context + extras (+ conformance_run). */
static int do_create(msgpack_object op, const char *as, int64_t n_extra) {
    msgpack_object ctx = get(op, "context"), bypass = get(op, "bypass_steps"),
                   delay = get(op, "delay_ms");
    int64_t blob = as_int(get(op, "context_blob_bytes"));
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    int has_delay = delay.type == MSGPACK_OBJECT_POSITIVE_INTEGER;
    msgpack_pack_map(&pk, 3 + (bypass.type == MSGPACK_OBJECT_ARRAY) + has_delay);
    pstr(&pk, "name"), pstr(&pk, g_template_name);
    pstr(&pk, "namespace"), pstr(&pk, g_template_ns);
    if (bypass.type == MSGPACK_OBJECT_ARRAY) pstr(&pk, "bypass_steps"), msgpack_pack_object(&pk, bypass);
    if (has_delay) pstr(&pk, "delay_ms"), msgpack_pack_object(&pk, delay);
    pstr(&pk, "context");
    uint32_t base = ctx.type == MSGPACK_OBJECT_MAP ? ctx.via.map.size : 0;
    msgpack_pack_map(&pk, base + 1 + (blob > 0) + (n_extra >= 0 ? 2 : 0));
    for (uint32_t i = 0; i < base; i++) {
        msgpack_pack_object(&pk, ctx.via.map.ptr[i].key);
        msgpack_pack_object(&pk, ctx.via.map.ptr[i].val);
    }
    pstr(&pk, "conformance_run"), pstr(&pk, g_run_id);
    if (blob > 0) {
        char *x = malloc((size_t)blob);
        memset(x, 'x', (size_t)blob);
        pstr(&pk, "blob"), pstrn(&pk, x, (size_t)blob);
        free(x);
    }
    if (n_extra >= 0) pstr(&pk, "n"), msgpack_pack_int64(&pk, n_extra), pstr(&pk, "i"), msgpack_pack_int64(&pk, n_extra);
    int64_t id = 0;
    bool created = false;
    tasker_error *err = NULL;
    tasker_result rc = tasker_create_task(g_client, (const uint8_t *)buf.data, buf.size, &id, &created, &err);
    msgpack_sbuffer_destroy(&buf);
    msgpack_object expect_error = get(op, "expect_error");
    if (expect_error.type == MSGPACK_OBJECT_STR) {
        const char *want = cs(expect_error);
        int ok = rc != TASKER_RESULT_OK && !strcmp(tasker_result_name(rc), want);
        if (!ok) FAIL("create %s: expected error %s, got %s", as, want, tasker_result_name(rc));
        tasker_error_free(err);
        return ok;
    }
    if (!call_ok(rc, err, "create_task")) return 0;
    msgpack_object ec = get(op, "expect_created");
    if (ec.type == MSGPACK_OBJECT_BOOLEAN && ec.via.boolean != created)
        return FAIL("create %s: created=%d, expected %d", as, created, ec.via.boolean);
    msgpack_object same = get(op, "same_as");
    if (same.type == MSGPACK_OBJECT_STR && alias(cs(same)) != id)
        return FAIL("create %s: id %lld differs from %s", as, (long long)id, cs(same));
    set_alias(as, id);
    return 1;
}

static int check_task(msgpack_object op) {
    int64_t id = alias(cs(get(op, "task")));
    msgpack_unpacked up;
    tasker_bytes b = {0};
    if (!read_view(id, &up, &b)) return 0;
    msgpack_object v = up.data;
    int ok = 1;
    if (has(op, "state") && !obj_equal(get(v, "state"), get(op, "state")))
        ok = FAIL("task %s: state %s, expected %s", cs(get(op, "task")), cs(get(v, "state")), cs(get(op, "state")));
    if (ok && has(op, "execution_status") && !obj_equal(get(get(v, "execution"), "execution_status"), get(op, "execution_status")))
        ok = FAIL("task: execution_status %s, expected %s", cs(get(get(v, "execution"), "execution_status")), cs(get(op, "execution_status")));
    msgpack_object steps = get(op, "steps");
    for (uint32_t i = 0; ok && steps.type == MSGPACK_OBJECT_MAP && i < steps.via.map.size; i++) {
        msgpack_object name = steps.via.map.ptr[i].key, want = steps.via.map.ptr[i].val;
        msgpack_object s = view_step(v, name);
        if (s.type == MSGPACK_OBJECT_NIL) { ok = FAIL("no step %s", cs(name)); break; }
        if (has(want, "state") && !obj_equal(get(s, "state"), get(want, "state")))
            ok = FAIL("step %s: state %s, expected %s", cs(name), cs(get(s, "state")), cs(get(want, "state")));
        else if (has(want, "attempts") && as_int(get(s, "attempts")) != as_int(get(want, "attempts")))
            ok = FAIL("step %s: attempts %lld, expected %lld", cs(name), (long long)as_int(get(s, "attempts")), (long long)as_int(get(want, "attempts")));
        msgpack_object wr = get(want, "results"), res = get(s, "results");
        for (uint32_t k = 0; ok && wr.type == MSGPACK_OBJECT_MAP && k < wr.via.map.size; k++) {
            const char *key = cs(wr.via.map.ptr[k].key);
            if (!obj_equal(get(res, key), wr.via.map.ptr[k].val)) ok = FAIL("step %s: results.%s differs", cs(name), key);
        }
        msgpack_object e = get(res, "error");
        if (ok && has(want, "error_class") && !obj_equal(get(e, "class"), get(want, "error_class")))
            ok = FAIL("step %s: error class %s, expected %s", cs(name), cs(get(e, "class")), cs(get(want, "error_class")));
        if (ok && has(want, "error_message") && !obj_equal(get(e, "message"), get(want, "error_message")))
            ok = FAIL("step %s: error message %s", cs(name), cs(get(e, "message")));
        if (ok && has(want, "checkpoint") && !obj_equal(get(s, "checkpoint"), get(want, "checkpoint")))
            ok = FAIL("step %s: checkpoint differs", cs(name));
        msgpack_object wb = get(want, "backoff_ms");
        if (ok && wb.type == MSGPACK_OBJECT_ARRAY) {
            msgpack_object tr = get(s, "transitions");
            uint32_t k = 0;
            for (uint32_t t = 0; tr.type == MSGPACK_OBJECT_ARRAY && t < tr.via.array.size; t++) {
                msgpack_object row = tr.via.array.ptr[t];
                if (!str_is(get(row, "to_state"), "error")) continue;
                if (k >= wb.via.array.size || as_int(get(get(row, "metadata"), "backoff_ms")) != as_int(wb.via.array.ptr[k]))
                    ok = FAIL("step %s: backoff #%u differs", cs(name), k);
                k++;
            }
            if (ok && k != wb.via.array.size) ok = FAIL("step %s: %u failures, expected %u", cs(name), k, wb.via.array.size);
        }
    }
    msgpack_object absent = get(op, "absent_steps");
    for (uint32_t i = 0; ok && absent.type == MSGPACK_OBJECT_ARRAY && i < absent.via.array.size; i++)
        if (view_step(v, absent.via.array.ptr[i]).type != MSGPACK_OBJECT_NIL)
            ok = FAIL("step %s exists, expected absent", cs(absent.via.array.ptr[i]));
    msgpack_unpacked_destroy(&up);
    tasker_bytes_free(&b);
    return ok;
}

static int task_terminal(int64_t id) {
    tasker_bytes b = {0};
    if (tasker_execution_context(g_client, id, &b, NULL) != TASKER_RESULT_OK) return 0;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_next(&up, (const char *)b.data, b.len, &off);
    msgpack_object s = get(up.data, "task_state");
    int done = str_is(s, "complete") || str_is(s, "error") || str_is(s, "cancelled");
    msgpack_unpacked_destroy(&up);
    tasker_bytes_free(&b);
    return done;
}

static void *worker_main(void *arg) {
    tasker_worker_run((tasker_worker *)arg, NULL, NULL);
    return NULL;
}

static int do_workers(msgpack_object op) {
    int threads = (int)as_int(get(op, "threads")), count = (int)as_int(get(op, "count"));
    const char *prefix = cs(get(op, "tasks_prefix"));
    tasker_worker *w[64];
    pthread_t t[64];
    tasker_error *err = NULL;
    for (int i = 0; i < threads && i < 64; i++) {
        if (!call_ok(tasker_worker_new(g_client, &w[i], &err), err, "worker_new")) return 0;
        pthread_create(&t[i], NULL, worker_main, w[i]);
    }
    int done = 0;
    for (int tries = 0; tries < 1200 && !done; tries++) {
        done = 1;
        for (int i = 0; i < count && done; i++) {
            char name[80];
            snprintf(name, sizeof name, "%s%d", prefix, i);
            done = task_terminal(alias(name));
        }
        if (!done) sleep_ms(100);
    }
    for (int i = 0; i < threads; i++) tasker_worker_stop(w[i]);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL), tasker_worker_free(w[i]);
    return done ? 1 : FAIL("workers did not finish within 120 s");
}

static int do_expect_all(msgpack_object op) {
    int count = (int)as_int(get(op, "count"));
    const char *prefix = cs(get(op, "prefix"));
    int once = get(op, "each_step_once").type == MSGPACK_OBJECT_BOOLEAN && get(op, "each_step_once").via.boolean;
    for (int i = 0; i < count; i++) {
        char name[80];
        snprintf(name, sizeof name, "%s%d", prefix, i);
        msgpack_unpacked up;
        tasker_bytes b = {0};
        if (!read_view(alias(name), &up, &b)) return 0;
        int ok = obj_equal(get(up.data, "state"), get(op, "state"));
        if (!ok) FAIL("%s: state %s", name, cs(get(up.data, "state")));
        msgpack_object steps = get(up.data, "steps");
        for (uint32_t k = 0; ok && once && k < steps.via.array.size; k++) {
            int64_t sid = as_int(get(steps.via.array.ptr[k], "step_id"));
            if (exec_count(sid) != 1) ok = FAIL("%s: step %lld ran %d times", name, (long long)sid, exec_count(sid));
        }
        msgpack_unpacked_destroy(&up);
        tasker_bytes_free(&b);
        if (!ok) return 0;
    }
    return 1;
}

/* The last `seen` a cancel_own_task handler recorded for the step equals the op's list. */
static int do_expect_seen(msgpack_object op) {
    const char *step = cs(get(op, "step"));
    msgpack_object want = get(op, "seen");
    for (int i = g_nseen - 1; i >= 0; i--) {
        if (strcmp(g_seen[i].step, step)) continue;
        for (uint32_t k = 0; k < 3; k++)
            if (want.type != MSGPACK_OBJECT_ARRAY || want.via.array.size != 3 || !str_is(want.via.array.ptr[k], g_seen[i].seen[k]))
                return FAIL("step %s saw [%s, %s, %s]", step, g_seen[i].seen[0], g_seen[i].seen[1], g_seen[i].seen[2]);
        return 1;
    }
    return FAIL("no handler saw anything for step %s", step);
}

static int do_drain(void) {
    int handled = 0;
    while (g_qhead < g_qtail) {
        if (++handled > 10000) return FAIL("queue did not drain after 10000 entries");
        int i = g_qhead++;
        if (g_queue[i].delay > 0) sleep_ms(g_queue[i].delay < 20 ? (long)g_queue[i].delay : 20);
        tasker_bytes out = {0};
        tasker_error *err = NULL;
        if (g_queue[i].kind == 1) {
            if (!call_ok(tasker_handle_step(g_client, g_queue[i].id, &out, &err), err, "handle_step")) return 0;
            msgpack_unpacked up;
            msgpack_unpacked_init(&up);
            size_t off = 0;
            msgpack_unpack_next(&up, (const char *)out.data, out.len, &off);
            g_queue_completed += str_is(get(up.data, "outcome"), "completed");
            msgpack_unpacked_destroy(&up);
        } else if (!call_ok(tasker_handle_task(g_client, g_queue[i].id, &out, &err), err, "handle_task")) {
            return 0;
        }
        tasker_bytes_free(&out);
    }
    return 1;
}

static int register_handler(msgpack_object name, msgpack_object spec) {
    tasker_error *err = NULL;
    behaviour *b = make_behaviour(spec);
    return call_ok(tasker_register_handler(g_client, cs(name), handler, NULL, b, free_behaviour, &err), err, "register_handler");
}

static int run_op(msgpack_object op) {
    const char *kind = cs(get(op, "op"));
    tasker_error *err = NULL;
    if (!strcmp(kind, "create")) return do_create(op, cs(get(op, "as")), -1);
    if (!strcmp(kind, "create_many")) {
        for (int64_t i = 0; i < as_int(get(op, "count")); i++) {
            char name[80];
            snprintf(name, sizeof name, "%s%lld", cs(get(op, "prefix")), (long long)i);
            if (!do_create(op, name, i)) return 0;
        }
        return 1;
    }
    if (!strcmp(kind, "run")) return call_ok(tasker_run_task(g_client, alias(cs(get(op, "task"))), NULL, &err), err, "run_task");
    if (!strcmp(kind, "workers")) return do_workers(op);
    if (!strcmp(kind, "set_queue"))
        return g_qhead = g_qtail = g_queue_completed = 0,
               call_ok(tasker_set_queue_injector(g_client, q_task, q_step, NULL, NULL, &err), err, "set_queue_injector");
    if (!strcmp(kind, "clear_queue")) return call_ok(tasker_set_queue_injector(g_client, NULL, NULL, NULL, NULL, &err), err, "clear");
    if (!strcmp(kind, "drain_queue")) return do_drain();
    if (!strcmp(kind, "expect_queue"))
        return g_queue_completed == as_int(get(op, "completed")) ? 1 : FAIL("queue completed %d", g_queue_completed);
    if (!strcmp(kind, "resolve_step") || !strcmp(kind, "retry_step")) {
        int64_t sid = step_id_of(alias(cs(get(op, "task"))), get(op, "step"));
        if (sid < 0) return FAIL("no step %s", cs(get(op, "step")));
        if (kind[1] == 'e' && kind[2] == 't') return call_ok(tasker_retry_step(g_client, sid, NULL, &err), err, "retry_step");
        msgpack_sbuffer buf;
        msgpack_sbuffer_init(&buf);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
        msgpack_pack_object(&pk, get(op, "results"));
        int ok = call_ok(tasker_resolve_step(g_client, sid, (const uint8_t *)buf.data, buf.size, NULL, &err), err, "resolve_step");
        msgpack_sbuffer_destroy(&buf);
        return ok;
    }
    if (!strcmp(kind, "cancel")) {
        bool changed = false;
        if (!call_ok(tasker_cancel_task(g_client, alias(cs(get(op, "task"))), &changed, &err), err, "cancel_task")) return 0;
        msgpack_object want = get(op, "expect_changed");
        if (want.type == MSGPACK_OBJECT_BOOLEAN && want.via.boolean != changed) return FAIL("cancel: changed=%d", changed);
        return 1;
    }
    if (!strcmp(kind, "set_handler")) return register_handler(get(op, "name"), get(op, "handler"));
    if (!strcmp(kind, "expect_task")) return check_task(op);
    if (!strcmp(kind, "expect_all")) return do_expect_all(op);
    if (!strcmp(kind, "expect_seen")) return do_expect_seen(op);
    if (!strcmp(kind, "expect_events")) {
        int64_t id = alias(cs(get(op, "task")));
        msgpack_object names = get(op, "names");
        uint32_t k = 0;
        for (int i = 0; i < g_nevents; i++) {
            if (g_events[i].task_id != id) continue;
            if (k >= names.via.array.size || strcmp(g_events[i].name, cs(names.via.array.ptr[k])))
                return FAIL("event #%u is %s", k, g_events[i].name);
            k++;
        }
        return k == names.via.array.size ? 1 : FAIL("%u events, expected %u", k, names.via.array.size);
    }
    return FAIL("unknown op %s", kind);
}

static int run_scenario(msgpack_object s, const char *backend, const char *target, int index) {
    char url[1024];
    if (!strcmp(backend, "sqlite")) {
        snprintf(url, sizeof url, "sqlite://%s/scenario-%d-%d.db", target, (int)getpid(), index);
    } else {
        snprintf(url, sizeof url, "%s", target);
    }
    /* options: defaults, with the scenario's top-level keys replacing them */
    msgpack_object opts = get(s, "options");
    const char *defaults[] = {"backoff", "poll_interval_ms", "lease_check_interval_ms"};
    msgpack_sbuffer ob;
    msgpack_sbuffer_init(&ob);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &ob, msgpack_sbuffer_write);
    uint32_t extra = opts.type == MSGPACK_OBJECT_MAP ? opts.via.map.size : 0, kept = 0;
    for (int i = 0; i < 3; i++) kept += !has(opts, defaults[i]);
    msgpack_pack_map(&pk, kept + extra);
    if (!has(opts, "backoff")) {
        pstr(&pk, "backoff"), msgpack_pack_map(&pk, 3);
        pstr(&pk, "base_ms"), msgpack_pack_int(&pk, 5), pstr(&pk, "factor"), msgpack_pack_double(&pk, 2.0);
        pstr(&pk, "max_ms"), msgpack_pack_int(&pk, 40);
    }
    if (!has(opts, "poll_interval_ms")) pstr(&pk, "poll_interval_ms"), msgpack_pack_int(&pk, 10);
    if (!has(opts, "lease_check_interval_ms")) pstr(&pk, "lease_check_interval_ms"), msgpack_pack_int(&pk, 50);
    for (uint32_t i = 0; i < extra; i++) {
        msgpack_pack_object(&pk, opts.via.map.ptr[i].key);
        msgpack_pack_object(&pk, opts.via.map.ptr[i].val);
    }
    tasker_error *err = NULL;
    g_client = NULL;
    int ok = call_ok(tasker_client_new(url, (const uint8_t *)ob.data, ob.size, &g_client, &err), err, "client_new");
    msgpack_sbuffer_destroy(&ob);
    if (!ok) return 0;
    g_nalias = g_nevents = g_nseen = 0;
    g_qhead = g_qtail = g_queue_completed = 0;
    memset(g_exec, 0, sizeof g_exec);
    msgpack_object tpl = get(s, "template");
    static char name[256], ns[256];
    snprintf(name, sizeof name, "%s", cs(get(tpl, "name")));
    snprintf(ns, sizeof ns, "%s", has(tpl, "namespace_name") ? cs(get(tpl, "namespace_name")) : "default");
    g_template_name = name, g_template_ns = ns;
    msgpack_sbuffer tb;
    msgpack_sbuffer_init(&tb);
    msgpack_packer_init(&pk, &tb, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, tpl);
    ok = call_ok(tasker_register_template_msgpack(g_client, (const uint8_t *)tb.data, tb.size, &err), err, "register_template");
    msgpack_sbuffer_destroy(&tb);
    msgpack_object handlers = get(s, "handlers");
    for (uint32_t i = 0; ok && handlers.type == MSGPACK_OBJECT_MAP && i < handlers.via.map.size; i++)
        ok = register_handler(handlers.via.map.ptr[i].key, handlers.via.map.ptr[i].val);
    tasker_subscription *sub = NULL;
    msgpack_object events = get(s, "events");
    if (ok && events.type == MSGPACK_OBJECT_ARRAY) {
        char patterns[1024] = {0};
        for (uint32_t i = 0; i < events.via.array.size; i++) {
            if (i) strcat(patterns, ",");
            strncat(patterns, cs(events.via.array.ptr[i]), sizeof patterns - strlen(patterns) - 2);
        }
        ok = call_ok(tasker_subscribe(g_client, patterns, on_event, NULL, NULL, &sub, &err), err, "subscribe");
    }
    msgpack_object ops = get(s, "ops");
    for (uint32_t i = 0; ok && i < ops.via.array.size; i++) {
        ok = run_op(ops.via.array.ptr[i]);
        if (!ok) {
            char prefix[64];
            snprintf(prefix, sizeof prefix, "op %u (%s): ", i, cs(get(ops.via.array.ptr[i], "op")));
            char tmp[1200];
            snprintf(tmp, sizeof tmp, "%s%s", prefix, g_fail);
            snprintf(g_fail, sizeof g_fail, "%.1000s", tmp);
        }
    }
    tasker_subscription_free(sub);
    tasker_client_free(g_client);
    g_client = NULL;
    if (!strcmp(backend, "sqlite")) {
        char path[1100];
        snprintf(path, sizeof path, "%s/scenario-%d-%d.db", target, (int)getpid(), index);
        remove(path);
        strcat(path, "-wal"), remove(path);
        path[strlen(path) - 4] = 0, strcat(path, "-shm"), remove(path);
    }
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s sqlite DIR|postgres URL scenario.msgpack...\n", argv[0]);
        return 2;
    }
    snprintf(g_run_id, sizeof g_run_id, "c-%d-%ld", (int)getpid(), (long)time(NULL));
    int passed = 0, failed = 0;
    for (int i = 3; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) { printf("FAIL %s %s: cannot open\n", argv[1], argv[i]); failed++; continue; }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *data = malloc((size_t)n);
        size_t got = fread(data, 1, (size_t)n, f);
        fclose(f);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        int parsed = got == (size_t)n && msgpack_unpack_next(&up, data, got, &off) == MSGPACK_UNPACK_SUCCESS;
        char name[256];
        snprintf(name, sizeof name, "%s", parsed ? cs(get(up.data, "name")) : argv[i]);
        g_fail[0] = 0;
        if (parsed && run_scenario(up.data, argv[1], argv[2], i)) {
            printf("PASS %s %s\n", argv[1], name);
            passed++;
        } else {
            printf("FAIL %s %s: %s\n", argv[1], name, parsed ? g_fail : "cannot parse");
            failed++;
        }
        fflush(stdout);
        msgpack_unpacked_destroy(&up);
        free(data);
    }
    printf("c-conformance-%s: %d passed, %d failed\n", argv[1], passed, failed);
    return failed ? 1 : 0;
}
