/* Helpers shared by the C ABI tests: assertions, MessagePack building and reading (msgpack-c). */
#ifndef TASKER_TEST_COMMON_H
#define TASKER_TEST_COMMON_H

#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tasker.h"

static int g_failures = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "  CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            g_failures++;                                                             \
            return;                                                                   \
        }                                                                             \
    } while (0)

/* Calls a tasker function that takes a trailing tasker_error **, expects TASKER_RESULT_OK. */
#define OK(call_with_err)                                                             \
    do {                                                                              \
        tasker_error *err_ = NULL;                                                    \
        tasker_result rc_ = call_with_err;                                            \
        if (rc_ != TASKER_RESULT_OK) {                                                \
            fprintf(stderr, "  %s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call_with_err, \
                    tasker_result_name(rc_), tasker_error_message(err_));             \
            tasker_error_free(err_);                                                  \
            g_failures++;                                                             \
            return;                                                                   \
        }                                                                             \
    } while (0)
#define E (&err_)

/* ---- building MessagePack ------------------------------------------------------------- */

typedef struct {
    msgpack_sbuffer buf;
    msgpack_packer pk;
} mp_builder;

static void mp_init(mp_builder *b) {
    msgpack_sbuffer_init(&b->buf);
    msgpack_packer_init(&b->pk, &b->buf, msgpack_sbuffer_write);
}
static void mp_free(mp_builder *b) { msgpack_sbuffer_destroy(&b->buf); }
static void mp_str(mp_builder *b, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(&b->pk, n);
    msgpack_pack_str_body(&b->pk, s, n);
}
static void mp_map(mp_builder *b, size_t n) { msgpack_pack_map(&b->pk, n); }

static void mp_int(mp_builder *b, int64_t v) { msgpack_pack_int64(&b->pk, v); }


/* A task request {name, namespace, context: {n: <n>, tag: <tag>}}. */
static void mp_request(mp_builder *b, const char *ns, const char *name, int64_t n, const char *tag) {
    mp_init(b);
    mp_map(b, 3);
    mp_str(b, "name");
    mp_str(b, name);
    mp_str(b, "namespace");
    mp_str(b, ns);
    mp_str(b, "context");
    mp_map(b, 2);
    mp_str(b, "n");
    mp_int(b, n);
    mp_str(b, "tag");
    mp_str(b, tag);
}

/* ---- reading MessagePack -------------------------------------------------------------- */

typedef struct {
    msgpack_unpacked up;
    msgpack_object root;
    int ok;
} mp_doc;

static void doc_parse(mp_doc *d, const uint8_t *data, size_t len) {
    size_t off = 0;
    msgpack_unpacked_init(&d->up);
    d->ok = msgpack_unpack_next(&d->up, (const char *)data, len, &off) == MSGPACK_UNPACK_SUCCESS;
    d->root = d->up.data;
}
static void doc_free(mp_doc *d) { msgpack_unpacked_destroy(&d->up); }

static int str_eq(msgpack_object o, const char *s) {
    return o.type == MSGPACK_OBJECT_STR && o.via.str.size == strlen(s) &&
           memcmp(o.via.str.ptr, s, o.via.str.size) == 0;
}

/* Looks up a key in a map; returns a NIL object when absent. */
static msgpack_object get(msgpack_object m, const char *key) {
    msgpack_object nil;
    nil.type = MSGPACK_OBJECT_NIL;
    if (m.type != MSGPACK_OBJECT_MAP) return nil;
    for (uint32_t i = 0; i < m.via.map.size; i++)
        if (str_eq(m.via.map.ptr[i].key, key)) return m.via.map.ptr[i].val;
    return nil;
}

static int64_t as_int(msgpack_object o) {
    if (o.type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (int64_t)o.via.u64;
    if (o.type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return o.via.i64;
    if (o.type == MSGPACK_OBJECT_FLOAT64 || o.type == MSGPACK_OBJECT_FLOAT32) return (int64_t)o.via.f64;
    return -999999;
}

/* The step named `name` in a task view. */
static msgpack_object view_step(msgpack_object view, const char *name) {
    msgpack_object steps = get(view, "steps");
    for (uint32_t i = 0; steps.type == MSGPACK_OBJECT_ARRAY && i < steps.via.array.size; i++)
        if (str_eq(get(steps.via.array.ptr[i], "name"), name)) return steps.via.array.ptr[i];
    return get(view, "__absent__");
}

/* ---- fixtures ------------------------------------------------------------------------- */

static int g_db_counter = 0;

/* A fresh SQLite file per test, or the shared database in TASKER_C_TEST_DATABASE_URL. */
static void test_url(char *out, size_t n) {
    const char *shared = getenv("TASKER_C_TEST_DATABASE_URL");
    if (shared && *shared) {
        snprintf(out, n, "%s", shared);
        return;
    }
    const char *dir = getenv("TMPDIR");
    snprintf(out, n, "sqlite://%s/tasker-c-test-%d-%d.db", dir && *dir ? dir : "/tmp", (int)getpid(),
             g_db_counter++);
    remove(out + strlen("sqlite://"));
}

static void remove_test_db(const char *url) {
    char path[512];
    if (strncmp(url, "sqlite://", 9) != 0) return;
    snprintf(path, sizeof path, "%s", url + 9);
    remove(path);
    snprintf(path, sizeof path, "%s-wal", url + 9);
    remove(path);
    snprintf(path, sizeof path, "%s-shm", url + 9);
    remove(path);
}

/* Options: fast backoff and polling so tests are quick. */
static void fast_options(mp_builder *b) {
    mp_init(b);
    mp_map(b, 3);
    mp_str(b, "backoff");
    mp_map(b, 3);
    mp_str(b, "base_ms");
    mp_int(b, 5);
    mp_str(b, "factor");
    msgpack_pack_double(&b->pk, 2.0);
    mp_str(b, "max_ms");
    mp_int(b, 40);
    mp_str(b, "poll_interval_ms");
    mp_int(b, 10);
    mp_str(b, "lease_check_interval_ms");
    mp_int(b, 50);
}

#endif
