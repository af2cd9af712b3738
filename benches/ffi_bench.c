/*
 * make bench, FFI round trip from C: a no-op handler registered through the C ABI, tasks of
 * benches/ffi_bench.yaml (one step) with a 1 KB context, run inline with tasker_run_task.
 * Prints `ffi_us_per_step=<float>`: wall time of the runs divided by the steps run (task
 * creation is not timed). Then `ffi_us_per_call=<float>`: the callback round trip alone —
 * tasker_call_handler with the same 1 KB context, no database: MessagePack encoding of the
 * context, the callback, decoding its output. The Rust-native twins are `bench`'s ffi
 * scenario (examples/bench.rs).
 *
 * Environment (the same contract as wrappers/<lang>/bench.sh):
 *   TASKER_BENCH_DATABASE_URL  database to use (a fresh SQLite file)
 *   TASKER_BENCH_TEMPLATE      path of benches/ffi_bench.yaml
 *   TASKER_BENCH_STEPS         number of timed steps (default 1000)
 *   TASKER_BENCH_CALLS         number of timed direct calls (default 20000)
 */
#define _POSIX_C_SOURCE 199309L
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tasker.h"

static int64_t seen_bytes = 0;

/* The no-op handler: answers {} (a one-byte MessagePack map). Touches the context length so the
 * call cannot be optimised into nothing. */
static void noop(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)userdata;
    (void)ctx;
    static const uint8_t empty_map[] = {0x80};
    seen_bytes += (int64_t)len;
    tasker_step_call_set_output(call, empty_map, sizeof empty_map, NULL);
}

static int fail(const char *what, tasker_error *err) {
    fprintf(stderr, "ffi_bench: %s failed: %s\n", what, tasker_error_message(err));
    tasker_error_free(err);
    return 1;
}

static void pstr(msgpack_packer *pk, const char *s) {
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* {"name": "ffi_bench", "namespace": "bench", "context": {"i": i, "payload": "xxx...(1000)"}} */
static int create(const tasker_client *c, int64_t i, int64_t *task_id) {
    static char payload[1001];
    memset(payload, 'x', 1000);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    pstr(&pk, "name"), pstr(&pk, "ffi_bench");
    pstr(&pk, "namespace"), pstr(&pk, "bench");
    pstr(&pk, "context");
    msgpack_pack_map(&pk, 2);
    pstr(&pk, "i"), msgpack_pack_int64(&pk, i);
    pstr(&pk, "payload"), pstr(&pk, payload);
    tasker_error *err = NULL;
    tasker_result rc = tasker_create_task(c, (const uint8_t *)buf.data, buf.size, task_id, NULL, &err);
    msgpack_sbuffer_destroy(&buf);
    return rc ? fail("create task", err) : 0;
}

/* Whether a tasker_call_handler outcome document says {"status": "completed"}. */
static int completed(const tasker_bytes *outcome) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int ok = 0;
    if (msgpack_unpack_next(&u, (const char *)outcome->data, outcome->len, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            msgpack_object k = u.data.via.map.ptr[i].key, v = u.data.via.map.ptr[i].val;
            if (k.type == MSGPACK_OBJECT_STR && k.via.str.size == 6 && memcmp(k.via.str.ptr, "status", 6) == 0)
                ok = v.type == MSGPACK_OBJECT_STR && v.via.str.size == 9 && memcmp(v.via.str.ptr, "completed", 9) == 0;
        }
    }
    msgpack_unpacked_destroy(&u);
    return ok;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
    const char *url = getenv("TASKER_BENCH_DATABASE_URL");
    const char *tpl = getenv("TASKER_BENCH_TEMPLATE");
    const char *steps_env = getenv("TASKER_BENCH_STEPS");
    int64_t steps = steps_env ? atoll(steps_env) : 1000, warm = 20;
    if (!url || !tpl || steps <= 0) {
        fprintf(stderr, "ffi_bench: set TASKER_BENCH_DATABASE_URL and TASKER_BENCH_TEMPLATE\n");
        return 2;
    }
    tasker_error *err = NULL;
    const tasker_client *c = NULL;
    if (tasker_client_new(url, NULL, 0, &c, &err)) return fail("connect", err);
    if (tasker_register_template_file(c, tpl, &err)) return fail("template", err);
    if (tasker_register_handler(c, "noop", noop, NULL, NULL, NULL, &err)) return fail("handler", err);

    int64_t *ids = malloc(sizeof(int64_t) * (size_t)(steps + warm));
    if (!ids) return 1;
    for (int64_t i = 0; i < steps + warm; i++)
        if (create(c, i, &ids[i])) return 1;
    for (int64_t i = 0; i < warm; i++) /* warm the connection pool and caches */
        if (tasker_run_task(c, ids[i], NULL, &err)) return fail("run task", err);
    double t0 = now_s();
    for (int64_t i = warm; i < steps + warm; i++)
        if (tasker_run_task(c, ids[i], NULL, &err)) return fail("run task", err);
    double t1 = now_s();
    free(ids);
    if (seen_bytes < (steps + warm) * 1000) {
        fprintf(stderr, "ffi_bench: the handler saw %lld context bytes, expected more\n", (long long)seen_bytes);
        return 1;
    }
    printf("ffi_us_per_step=%.2f\n", (t1 - t0) * 1e6 / (double)steps);

    /* The callback round trip alone: {"task": {"context": {"i": 0, "payload": 1 KB}},
     * "step": {"handler": "noop", "name": "noop"}} through tasker_call_handler. */
    const char *calls_env = getenv("TASKER_BENCH_CALLS");
    int64_t calls = calls_env ? atoll(calls_env) : 20000, warm_calls = 200;
    if (calls <= 0) calls = 20000;
    static char payload[1001];
    memset(payload, 'x', 1000);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pstr(&pk, "task");
    msgpack_pack_map(&pk, 1);
    pstr(&pk, "context");
    msgpack_pack_map(&pk, 2);
    pstr(&pk, "i"), msgpack_pack_int64(&pk, 0);
    pstr(&pk, "payload"), pstr(&pk, payload);
    pstr(&pk, "step");
    msgpack_pack_map(&pk, 2);
    pstr(&pk, "handler"), pstr(&pk, "noop");
    pstr(&pk, "name"), pstr(&pk, "noop");
    seen_bytes = 0;
    double t2 = 0;
    for (int64_t i = 0; i < warm_calls + calls; i++) {
        if (i == warm_calls) t2 = now_s();
        tasker_bytes outcome = {0};
        if (tasker_call_handler(c, (const uint8_t *)buf.data, buf.size, &outcome, &err)) return fail("call handler", err);
        if (!completed(&outcome)) {
            fprintf(stderr, "ffi_bench: the no-op handler did not complete\n");
            return 1;
        }
        tasker_bytes_free(&outcome);
    }
    double t3 = now_s();
    msgpack_sbuffer_destroy(&buf);
    tasker_client_free(c);
    if (seen_bytes < (warm_calls + calls) * 1000) {
        fprintf(stderr, "ffi_bench: direct calls saw %lld context bytes, expected more\n", (long long)seen_bytes);
        return 1;
    }
    printf("ffi_us_per_call=%.3f\n", (t3 - t2) * 1e6 / (double)calls);
    return 0;
}
