#define _DEFAULT_SOURCE /* usleep */
/* C ABI tests: run under valgrind (SQLite) and natively (PostgreSQL) by `make test`. */
#include <math.h>
#include <pthread.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common.h"

#define MAX_STEPS 4096

/* ---- handlers ------------------------------------------------------------------------- */

typedef struct {
    int executions[MAX_STEPS]; /* by step id, updated atomically */
    int finalized;             /* times the userdata finalizer ran */
    int fail_first;            /* flaky: attempts that fail */
    double retry_after;        /* flaky: retry_after seconds (<0: none) */
} handler_state;

static void free_state(void *userdata) { __atomic_add_fetch(&((handler_state *)userdata)->finalized, 1, __ATOMIC_SEQ_CST); }

static void output_value(tasker_step_call *call, int64_t value) {
    mp_builder b;
    mp_init(&b);
    mp_map(&b, 1);
    mp_str(&b, "value");
    mp_int(&b, value);
    tasker_step_call_set_output(call, (const uint8_t *)b.buf.data, b.buf.size, NULL);
    mp_free(&b);
}

/* value = (sum of dependency values, or context.n at a root)^2 */
static void square(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    handler_state *st = userdata;
    mp_doc d;
    doc_parse(&d, ctx, len);
    int64_t step_id = tasker_step_call_step_id(call);
    if (step_id > 0 && step_id < MAX_STEPS) __atomic_add_fetch(&st->executions[step_id], 1, __ATOMIC_SEQ_CST);
    msgpack_object deps = get(d.root, "dependency_results");
    int64_t base = 0;
    if (deps.type == MSGPACK_OBJECT_MAP && deps.via.map.size > 0) {
        for (uint32_t i = 0; i < deps.via.map.size; i++) base += as_int(get(deps.via.map.ptr[i].val, "value"));
    } else {
        base = as_int(get(get(get(d.root, "task"), "context"), "n"));
    }
    output_value(call, base * base);
    doc_free(&d);
}

static void flaky(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    handler_state *st = userdata;
    mp_doc d;
    doc_parse(&d, ctx, len);
    int64_t attempt = as_int(get(get(d.root, "step"), "attempt"));
    doc_free(&d);
    if (attempt <= st->fail_first) {
        tasker_step_call_fail(call, "gateway busy", "GatewayBusy", true, st->retry_after, NULL, 0, NULL);
        return;
    }
    output_value(call, attempt);
}

static void permanent(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)userdata, (void)ctx, (void)len;
    mp_builder b;
    mp_init(&b);
    mp_map(&b, 1);
    mp_str(&b, "code");
    mp_str(&b, "CARD_DECLINED");
    tasker_step_call_fail(call, "card declined", "CardDeclined", false, -1, (const uint8_t *)b.buf.data, b.buf.size, NULL);
    mp_free(&b);
}

static void silent(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)userdata, (void)call, (void)ctx, (void)len; /* reports nothing */
}

static void heartbeating(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)userdata, (void)ctx, (void)len;
    int64_t expires = 0;
    if (tasker_step_call_heartbeat(call, &expires, NULL) != TASKER_RESULT_OK || expires <= 0) {
        tasker_step_call_fail(call, "heartbeat failed", "Heartbeat", false, -1, NULL, 0, NULL);
        return;
    }
    /* a running, uncancelled step without a timeout may go on */
    int32_t reason = -1;
    if (tasker_step_call_is_cancelled(call, &reason, NULL) != TASKER_RESULT_OK || reason != 0) {
        tasker_step_call_fail(call, "is_cancelled failed", "IsCancelled", false, -1, NULL, 0, NULL);
        return;
    }
    output_value(call, 1);
}

/* keeps its call handle after returning (a misuse the ABI must refuse, not crash on) */
static tasker_step_call *g_kept_call;
static int64_t g_kept_step_id;
static void keeper(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)userdata, (void)ctx, (void)len;
    g_kept_call = call;
    g_kept_step_id = tasker_step_call_step_id(call);
    output_value(call, 1);
}

/* reports {"v": NaN}: refused (INVALID_ARGUMENT, recorded here), so it reports a plain output */
static tasker_result g_nan_output_rc;
static void nan_output(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)userdata, (void)ctx, (void)len;
    mp_builder b;
    mp_init(&b);
    mp_map(&b, 1);
    mp_str(&b, "v");
    msgpack_pack_double(&b.pk, NAN);
    g_nan_output_rc = tasker_step_call_set_output(call, (const uint8_t *)b.buf.data, b.buf.size, NULL);
    mp_free(&b);
    output_value(call, 1);
}

/* process_results: wraps the output as {wrapped: <output value>, by: "process_results"} */
static void wrap_results(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t ctx_len,
                         const uint8_t *out, size_t out_len) {
    (void)userdata, (void)ctx, (void)ctx_len;
    mp_doc d;
    doc_parse(&d, out, out_len);
    mp_builder b;
    mp_init(&b);
    mp_map(&b, 2);
    mp_str(&b, "wrapped");
    mp_int(&b, as_int(get(d.root, "value")));
    mp_str(&b, "by");
    mp_str(&b, "process_results");
    tasker_step_call_set_output(call, (const uint8_t *)b.buf.data, b.buf.size, NULL);
    mp_free(&b);
    doc_free(&d);
}

/* ---- fixture -------------------------------------------------------------------------- */

static const char *DIAMOND =
    "name: diamond\n"
    "namespace_name: c_tests\n"
    "version: 1.0.0\n"
    "step_templates:\n"
    "  - {name: a, handler: square}\n"
    "  - {name: b, handler: square, depends_on_step: a}\n"
    "  - {name: c, handler: square, depends_on_step: a}\n"
    "  - {name: d, handler: square, depends_on_steps: [b, c]}\n";

/* Connects to a fresh test database with the options in `o` (freed here). */
static const tasker_client *open_client_with(char *url, size_t n, mp_builder *o);

static const tasker_client *open_client(char *url, size_t n) {
    mp_builder o;
    fast_options(&o);
    return open_client_with(url, n, &o);
}

static const tasker_client *open_client_with(char *url, size_t n, mp_builder *o) {
    test_url(url, n);
    const tasker_client *c = NULL;
    tasker_error *err = NULL;
    if (tasker_client_new(url, (const uint8_t *)o->buf.data, o->buf.size, &c, &err) != TASKER_RESULT_OK) {
        fprintf(stderr, "  connect %s: %s\n", url, tasker_error_message(err));
        tasker_error_free(err);
        c = NULL;
    }
    mp_free(o);
    return c;
}

static int g_create_counter = 0;

/* Creates a task; the tag is made unique per call so runs on a shared database never dedup. */
static int64_t create(const tasker_client *c, const char *ns, const char *name, int64_t n, const char *tag) {
    mp_builder r;
    char unique[160];
    snprintf(unique, sizeof unique, "%s-%d", tag, g_create_counter++);
    mp_request(&r, ns, name, n, unique);
    int64_t id = -1;
    bool created = false;
    tasker_error *err = NULL;
    if (tasker_create_task(c, (const uint8_t *)r.buf.data, r.buf.size, &id, &created, &err) != TASKER_RESULT_OK) {
        fprintf(stderr, "  create_task: %s\n", tasker_error_message(err));
        tasker_error_free(err);
    }
    mp_free(&r);
    return id;
}

static char g_tag[64];

/* ---- tests ---------------------------------------------------------------------------- */

static void test_version(void) {
    CHECK(strcmp(tasker_version(), TASKER_VERSION_STRING) == 0);
    CHECK(TASKER_VERSION_NUMBER == ((TASKER_VERSION_MAJOR << 16) | (TASKER_VERSION_MINOR << 8) | TASKER_VERSION_PATCH));
    CHECK(strcmp(tasker_result_name(TASKER_RESULT_STALE_CLAIM), "stale_claim") == 0);
    CHECK(strcmp(tasker_result_name(TASKER_RESULT_INVALID_STATE), "invalid_state") == 0);
    CHECK(strcmp(tasker_result_name(TASKER_RESULT_INTERRUPTED), "interrupted") == 0);
    /* any other uint32_t is "unknown", never a crash */
    CHECK(strcmp(tasker_result_name(20), "unknown") == 0);
    CHECK(strcmp(tasker_result_name(64), "unknown") == 0);
    CHECK(strcmp(tasker_result_name(UINT32_MAX), "unknown") == 0);
}

static void test_diamond(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    handler_state *st = calloc(1, sizeof *st);
    OK(tasker_register_template_yaml(c, (const uint8_t *)DIAMOND, strlen(DIAMOND), E));
    OK(tasker_register_handler(c, "square", square, NULL, st, free_state, E));
    int64_t id = create(c, "c_tests", "diamond", 2, g_tag);
    CHECK(id > 0);
    tasker_bytes exec = {0};
    OK(tasker_run_task(c, id, &exec, E));
    mp_doc e;
    doc_parse(&e, exec.data, exec.len);
    CHECK(str_eq(get(e.root, "task_state"), "complete"));
    CHECK(str_eq(get(e.root, "execution_status"), "all_complete"));
    doc_free(&e);
    tasker_bytes_free(&exec);
    CHECK(exec.data == NULL);

    tasker_bytes view = {0};
    OK(tasker_task_view(c, id, &view, E));
    mp_doc v;
    doc_parse(&v, view.data, view.len);
    CHECK(v.ok);
    CHECK(str_eq(get(v.root, "state"), "complete"));
    /* a = 4, b = c = 16, d = (16 + 16)^2 = 1024 */
    CHECK(as_int(get(get(view_step(v.root, "a"), "results"), "value")) == 4);
    CHECK(as_int(get(get(view_step(v.root, "b"), "results"), "value")) == 16);
    CHECK(as_int(get(get(view_step(v.root, "d"), "results"), "value")) == 1024);
    CHECK(as_int(get(view_step(v.root, "d"), "attempts")) == 1);
    doc_free(&v);
    tasker_bytes_free(&view);

    /* Replacing the handler finalizes the old userdata exactly once. */
    handler_state *st2 = calloc(1, sizeof *st2);
    OK(tasker_register_handler(c, "square", square, wrap_results, st2, free_state, E));
    CHECK(st->finalized == 1);
    int64_t id2 = create(c, "c_tests", "diamond", 3, g_tag);
    OK(tasker_run_task(c, id2, NULL, E));
    OK(tasker_task_view(c, id2, &view, E));
    doc_parse(&v, view.data, view.len);
    CHECK(str_eq(get(get(view_step(v.root, "a"), "results"), "by"), "process_results"));
    CHECK(as_int(get(get(view_step(v.root, "a"), "results"), "wrapped")) == 9);
    doc_free(&v);
    tasker_bytes_free(&view);

    tasker_client_free(c);
    CHECK(st2->finalized == 1);
    free(st);
    free(st2);
    remove_test_db(url);
}

static void one_step_template(const tasker_client *c, const char *name, const char *handler, const char *extra) {
    char yaml[512];
    snprintf(yaml, sizeof yaml, "name: %s\nnamespace_name: c_tests\nstep_templates:\n  - {name: s, handler: %s%s}\n", name,
             handler, extra);
    tasker_register_template_yaml(c, (const uint8_t *)yaml, strlen(yaml), NULL);
}

static void test_retry_after_permanent_and_silent(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    handler_state *st = calloc(1, sizeof *st);
    st->fail_first = 1;
    st->retry_after = 0.05;
    OK(tasker_register_handler(c, "flaky", flaky, NULL, st, free_state, E));
    OK(tasker_register_handler(c, "permanent", permanent, NULL, NULL, NULL, E));
    OK(tasker_register_handler(c, "silent", silent, NULL, NULL, NULL, E));
    one_step_template(c, "flaky_task", "flaky", "");
    one_step_template(c, "permanent_task", "permanent", ", default_retry_limit: 5");
    one_step_template(c, "silent_task", "silent", ", default_retry_limit: 1");

    int64_t f = create(c, "c_tests", "flaky_task", 1, g_tag);
    OK(tasker_run_task(c, f, NULL, E));
    tasker_bytes view = {0};
    OK(tasker_task_view(c, f, &view, E));
    mp_doc v;
    doc_parse(&v, view.data, view.len);
    msgpack_object s = view_step(v.root, "s");
    CHECK(str_eq(get(v.root, "state"), "complete"));
    CHECK(as_int(get(s, "attempts")) == 2);
    msgpack_object tr = get(s, "transitions");
    int found = 0;
    for (uint32_t i = 0; tr.type == MSGPACK_OBJECT_ARRAY && i < tr.via.array.size; i++) {
        msgpack_object t = tr.via.array.ptr[i];
        if (str_eq(get(t, "to_state"), "error")) {
            found = 1;
            CHECK(as_int(get(get(t, "metadata"), "backoff_ms")) == 40); /* 50 ms capped by max_ms 40 */
            CHECK(str_eq(get(get(t, "metadata"), "error_class"), "GatewayBusy"));
        }
    }
    CHECK(found);
    doc_free(&v);
    tasker_bytes_free(&view);

    int64_t p = create(c, "c_tests", "permanent_task", 1, g_tag);
    OK(tasker_run_task(c, p, NULL, E));
    OK(tasker_task_view(c, p, &view, E));
    doc_parse(&v, view.data, view.len);
    s = view_step(v.root, "s");
    CHECK(str_eq(get(v.root, "state"), "error"));
    CHECK(as_int(get(s, "attempts")) == 1);
    msgpack_object err = get(get(s, "results"), "error");
    CHECK(str_eq(get(err, "class"), "CardDeclined"));
    CHECK(str_eq(get(err, "message"), "card declined"));
    CHECK(str_eq(get(get(err, "details"), "code"), "CARD_DECLINED"));
    CHECK(get(err, "permanent").type == MSGPACK_OBJECT_BOOLEAN && get(err, "permanent").via.boolean);
    doc_free(&v);
    tasker_bytes_free(&view);

    int64_t q = create(c, "c_tests", "silent_task", 1, g_tag);
    OK(tasker_run_task(c, q, NULL, E));
    OK(tasker_task_view(c, q, &view, E));
    doc_parse(&v, view.data, view.len);
    err = get(get(view_step(v.root, "s"), "results"), "error");
    CHECK(str_eq(get(err, "class"), "NoOutput"));
    CHECK(get(err, "message").type == MSGPACK_OBJECT_STR && get(err, "message").via.str.size > 20);
    doc_free(&v);
    tasker_bytes_free(&view);

    /* Operator retry of the failed step, now with a handler that works. */
    OK(tasker_register_handler(c, "permanent", square, NULL, st, NULL, E));
    OK(tasker_task_view(c, p, &view, E));
    doc_parse(&v, view.data, view.len);
    int64_t step_id = as_int(get(view_step(v.root, "s"), "step_id"));
    doc_free(&v);
    tasker_bytes_free(&view);
    bool retried = false;
    OK(tasker_retry_step(c, step_id, &retried, E));
    CHECK(retried);
    tasker_bytes exec = {0};
    OK(tasker_run_task(c, p, &exec, E));
    mp_doc e;
    doc_parse(&e, exec.data, exec.len);
    CHECK(str_eq(get(e.root, "task_state"), "complete"));
    doc_free(&e);
    tasker_bytes_free(&exec);

    tasker_client_free(c);
    CHECK(st->finalized == 1);
    free(st);
    remove_test_db(url);
}

static void test_heartbeat(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    OK(tasker_register_handler(c, "beat", heartbeating, NULL, NULL, NULL, E));
    one_step_template(c, "beat_task", "beat", "");
    int64_t id = create(c, "c_tests", "beat_task", 1, g_tag);
    tasker_bytes exec = {0};
    OK(tasker_run_task(c, id, &exec, E));
    mp_doc e;
    doc_parse(&e, exec.data, exec.len);
    CHECK(str_eq(get(e.root, "task_state"), "complete"));
    doc_free(&e);
    tasker_bytes_free(&exec);
    tasker_client_free(c);
    remove_test_db(url);
}

/* ---- checkpoints ---------------------------------------------------------------------- */

/* checkpointing: counts context.n items from its checkpoint's cursor, recording {"cursor": i+1}
   after each; the first attempt fails retryably at item 2. Records what each attempt saw. */
typedef struct {
    int64_t processed[2][8]; /* item indexes each attempt processed */
    int counts[2];
    char resumed[2][64];     /* tasker_step_call_last_checkpoint_json per attempt */
    tasker_result big_rc, bad_json_rc;
} ckpt_state;

static void checkpointing(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    ckpt_state *st = userdata;
    mp_doc d;
    doc_parse(&d, ctx, len);
    int64_t attempt = as_int(get(get(d.root, "step"), "attempt"));
    int64_t n = as_int(get(get(get(d.root, "task"), "context"), "n"));
    msgpack_object cp = get(d.root, "checkpoint");
    int64_t cursor = cp.type == MSGPACK_OBJECT_MAP ? as_int(get(cp, "cursor")) : 0;
    doc_free(&d);
    int a = attempt == 1 ? 0 : 1;
    tasker_bytes last = {0};
    if (tasker_step_call_last_checkpoint_json(call, &last, NULL) == TASKER_RESULT_OK) {
        snprintf(st->resumed[a], sizeof st->resumed[a], "%s", (const char *)last.data);
        tasker_bytes_free(&last);
    }
    if (attempt == 1) {
        /* oversized (64 KiB + 1 of JSON) and malformed checkpoints are refused, nothing written */
        size_t big_len = 64 * 1024 + 1;
        char *big = malloc(big_len);
        memset(big, 'x', big_len);
        big[0] = '"', big[big_len - 1] = '"';
        st->big_rc = tasker_step_call_checkpoint_json(call, big, big_len, NULL);
        free(big);
        st->bad_json_rc = tasker_step_call_checkpoint_json(call, "{", 1, NULL);
    }
    for (int64_t i = cursor; i < n && i < 8; i++) {
        if (attempt == 1 && i == 2) {
            tasker_step_call_fail(call, "failed midway", "Midway", true, -1, NULL, 0, NULL);
            return;
        }
        st->processed[a][st->counts[a]++] = i;
        if (i % 2 == 0) {
            char json[64];
            snprintf(json, sizeof json, "{\"cursor\":%lld}", (long long)(i + 1));
            tasker_step_call_checkpoint_json(call, json, strlen(json), NULL);
        } else {
            /* the MessagePack form */
            mp_builder b;
            mp_init(&b);
            mp_map(&b, 1);
            mp_str(&b, "cursor");
            mp_int(&b, i + 1);
            tasker_step_call_checkpoint(call, (const uint8_t *)b.buf.data, b.buf.size, NULL);
            mp_free(&b);
        }
    }
    output_value(call, n);
}

static void test_checkpoint_resume(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    ckpt_state *st = calloc(1, sizeof *st);
    OK(tasker_register_handler(c, "checkpointing", checkpointing, NULL, st, NULL, E));
    one_step_template(c, "ckpt_task", "checkpointing", "");
    int64_t id = create(c, "c_tests", "ckpt_task", 4, g_tag);
    tasker_bytes exec = {0};
    OK(tasker_run_task(c, id, &exec, E));
    tasker_bytes_free(&exec);
    /* attempt 1: no checkpoint, items 0 and 1, then the failure; attempt 2 resumes at 2 */
    CHECK(strcmp(st->resumed[0], "null") == 0);
    CHECK(st->counts[0] == 2 && st->processed[0][0] == 0 && st->processed[0][1] == 1);
    CHECK(strcmp(st->resumed[1], "{\"cursor\":2}") == 0);
    CHECK(st->counts[1] == 2 && st->processed[1][0] == 2 && st->processed[1][1] == 3);
    CHECK(st->big_rc == TASKER_RESULT_PAYLOAD_TOO_LARGE);
    CHECK(st->bad_json_rc == TASKER_RESULT_INVALID_ARGUMENT);
    /* the view shows the last checkpoint */
    tasker_bytes view = {0}, v = {0};
    OK(tasker_task_view_json(c, id, &view, E));
    OK(tasker_json_get_string((const char *)view.data, view.len, "/state", &v, E));
    CHECK(strcmp((const char *)v.data, "complete") == 0);
    tasker_bytes_free(&v);
    OK(tasker_json_get((const char *)view.data, view.len, "/steps/0/checkpoint", &v, E));
    CHECK(strcmp((const char *)v.data, "{\"cursor\":4}") == 0);
    tasker_bytes_free(&v);
    tasker_bytes_free(&view);
    CHECK(tasker_step_call_checkpoint(NULL, (const uint8_t *)"", 0, NULL) == TASKER_RESULT_NULL_PARAMETER);
    tasker_client_free(c);
    free(st);
    remove_test_db(url);
}

/* ---- threads -------------------------------------------------------------------------- */

static void *worker_thread(void *arg) {
    tasker_worker *w = arg;
    tasker_worker_run(w, NULL, NULL);
    return NULL;
}

static void test_threads(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    handler_state *st = calloc(1, sizeof *st);
    OK(tasker_register_template_yaml(c, (const uint8_t *)DIAMOND, strlen(DIAMOND), E));
    OK(tasker_register_handler(c, "square", square, NULL, st, free_state, E));
    enum { TASKS = 12, THREADS = 4 };
    int64_t ids[TASKS];
    char tag[96];
    for (int i = 0; i < TASKS; i++) {
        snprintf(tag, sizeof tag, "%s-threads", g_tag);
        ids[i] = create(c, "c_tests", "diamond", i, tag);
        CHECK(ids[i] > 0);
    }
    tasker_worker *workers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        OK(tasker_worker_new(c, &workers[i], E));
        CHECK(pthread_create(&threads[i], NULL, worker_thread, workers[i]) == 0);
    }
    /* Wait until every task is complete, then stop the workers from this thread. */
    for (int tries = 0; tries < 6000; tries++) {
        int done = 0;
        for (int i = 0; i < TASKS; i++) {
            tasker_bytes exec = {0};
            if (tasker_execution_context(c, ids[i], &exec, NULL) == TASKER_RESULT_OK) {
                mp_doc e;
                doc_parse(&e, exec.data, exec.len);
                done += str_eq(get(e.root, "task_state"), "complete");
                doc_free(&e);
                tasker_bytes_free(&exec);
            }
        }
        if (done == TASKS) break;
        usleep(20000);
    }
    for (int i = 0; i < THREADS; i++) tasker_worker_stop(workers[i]);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        tasker_worker_free(workers[i]);
    }
    /* Every step of every task ran exactly once. */
    for (int i = 0; i < TASKS; i++) {
        tasker_bytes view = {0};
        OK(tasker_task_view(c, ids[i], &view, E));
        mp_doc v;
        doc_parse(&v, view.data, view.len);
        CHECK(str_eq(get(v.root, "state"), "complete"));
        msgpack_object steps = get(v.root, "steps");
        for (uint32_t k = 0; k < steps.via.array.size; k++) {
            int64_t sid = as_int(get(steps.via.array.ptr[k], "step_id"));
            CHECK(sid > 0 && sid < MAX_STEPS);
            CHECK(st->executions[sid] == 1);
        }
        doc_free(&v);
        tasker_bytes_free(&view);
    }
    tasker_client_free(c);
    free(st);
    remove_test_db(url);
}

/* ---- host queue ----------------------------------------------------------------------- */

typedef struct {
    int64_t ids[256];
    int kinds[256]; /* 0 task, 1 step */
    uint64_t delays[256];
    int head, tail, finalized;
} queue;

static int32_t enqueue_task(void *ud, int64_t id, uint64_t delay) {
    queue *q = ud;
    if (q->tail >= 256) return 1;
    q->ids[q->tail] = id, q->kinds[q->tail] = 0, q->delays[q->tail++] = delay;
    return 0;
}
static int32_t enqueue_step(void *ud, int64_t id, uint64_t delay) {
    queue *q = ud;
    if (q->tail >= 256) return 1;
    q->ids[q->tail] = id, q->kinds[q->tail] = 1, q->delays[q->tail++] = delay;
    return 0;
}
static void free_queue(void *ud) { ((queue *)ud)->finalized++; }

static void test_host_queue(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    handler_state *st = calloc(1, sizeof *st);
    queue *q = calloc(1, sizeof *q);
    OK(tasker_register_template_yaml(c, (const uint8_t *)DIAMOND, strlen(DIAMOND), E));
    OK(tasker_register_handler(c, "square", square, NULL, st, free_state, E));
    OK(tasker_set_queue_injector(c, enqueue_task, enqueue_step, q, free_queue, E));
    int64_t id = create(c, "c_tests", "diamond", 2, g_tag);
    CHECK(q->tail == 1 && q->kinds[0] == 1 && q->delays[0] == 0);
    int completed = 0, skipped = 0;
    while (q->head < q->tail) {
        int i = q->head++;
        tasker_bytes out = {0};
        if (q->kinds[i] == 1) {
            OK(tasker_handle_step(c, q->ids[i], &out, E));
            mp_doc d;
            doc_parse(&d, out.data, out.len);
            completed += str_eq(get(d.root, "outcome"), "completed");
            skipped += str_eq(get(d.root, "outcome"), "skipped");
            doc_free(&d);
        } else {
            OK(tasker_handle_task(c, q->ids[i], &out, E));
        }
        tasker_bytes_free(&out);
    }
    CHECK(completed == 4);
    tasker_bytes exec = {0};
    OK(tasker_execution_context(c, id, &exec, E));
    mp_doc e;
    doc_parse(&e, exec.data, exec.len);
    CHECK(str_eq(get(e.root, "task_state"), "complete"));
    doc_free(&e);
    tasker_bytes_free(&exec);
    /* Removing the injector finalizes its userdata once. */
    OK(tasker_set_queue_injector(c, NULL, NULL, NULL, NULL, E));
    CHECK(q->finalized == 1);
    tasker_client_free(c);
    CHECK(q->finalized == 1);
    free(q);
    free(st);
    remove_test_db(url);
}

/* ---- events --------------------------------------------------------------------------- */

typedef struct {
    char names[64][40];
    int count, finalized;
} event_log;

static void on_event(void *ud, const uint8_t *data, size_t len) {
    event_log *log = ud;
    mp_doc d;
    doc_parse(&d, data, len);
    msgpack_object name = get(d.root, "name");
    if (log->count < 64 && name.type == MSGPACK_OBJECT_STR && name.via.str.size < 40) {
        memcpy(log->names[log->count], name.via.str.ptr, name.via.str.size);
        log->names[log->count][name.via.str.size] = 0;
        log->count++;
    }
    doc_free(&d);
}
static void free_log(void *ud) { ((event_log *)ud)->finalized++; }

static void test_events(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    handler_state *st = calloc(1, sizeof *st);
    event_log *log = calloc(1, sizeof *log);
    OK(tasker_register_template_yaml(c, (const uint8_t *)DIAMOND, strlen(DIAMOND), E));
    OK(tasker_register_handler(c, "square", square, NULL, st, free_state, E));
    tasker_subscription *sub = NULL;
    OK(tasker_subscribe(c, "task.start_requested, task.completed,step.completed", on_event, log, free_log, &sub, E));
    int64_t id = create(c, "c_tests", "diamond", 1, g_tag);
    OK(tasker_run_task(c, id, NULL, E));
    CHECK(log->count == 6);
    CHECK(strcmp(log->names[0], "task.start_requested") == 0);
    for (int i = 1; i <= 4; i++) CHECK(strcmp(log->names[i], "step.completed") == 0);
    CHECK(strcmp(log->names[5], "task.completed") == 0);
    tasker_subscription_free(sub);
    CHECK(log->finalized == 1);
    int64_t id2 = create(c, "c_tests", "diamond", 5, g_tag);
    OK(tasker_run_task(c, id2, NULL, E));
    CHECK(log->count == 6); /* unsubscribed */
    tasker_client_free(c);
    CHECK(log->finalized == 1);
    free(log);
    free(st);
    remove_test_db(url);
}

/* ---- bad input ------------------------------------------------------------------------ */

/* Expects `expected` with a message containing `part` ("" for any non-empty message). */
#define EXPECT_MESSAGE(expected, part, call_with_err)                                              \
    do {                                                                                           \
        tasker_error *err_ = NULL;                                                                 \
        tasker_result rc_ = call_with_err;                                                         \
        if (rc_ != (expected) || !err_ || tasker_error_code(err_) != (expected) ||                 \
            strlen(tasker_error_message(err_)) == 0 || !strstr(tasker_error_message(err_), part)) { \
            fprintf(stderr, "  %s:%d: %s -> %s (%s), expected %s with \"%s\"\n", __FILE__,         \
                    __LINE__, #call_with_err, tasker_result_name(rc_), tasker_error_message(err_), \
                    tasker_result_name(expected), part);                                           \
            tasker_error_free(err_);                                                               \
            g_failures++;                                                                          \
            return;                                                                                \
        }                                                                                          \
        tasker_error_free(err_);                                                                   \
    } while (0)
#define EXPECT_CODE(expected, call_with_err) EXPECT_MESSAGE(expected, "", call_with_err)

static void test_bad_input(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    int64_t id = 0;
    bool created = false;
    tasker_bytes out = {0};
    const uint8_t garbage[] = {0xc1, 0x00, 0x01};
    const uint8_t truncated[] = {0x82, 0xa4, 'n', 'a', 'm', 'e'};
    /* NULL handles and pointers */
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_create_task(NULL, garbage, 3, &id, &created, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_create_task(c, NULL, 10, &id, &created, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_task_view(c, 1, NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_register_handler(c, NULL, square, NULL, NULL, NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_register_handler(c, "x", NULL, NULL, NULL, NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_register_template_yaml(c, NULL, 5, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_client_new(NULL, NULL, 0, NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_step_call_set_output(NULL, garbage, 3, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_set_queue_injector(c, enqueue_task, NULL, NULL, NULL, E));
    /* malformed, truncated and mistyped MessagePack */
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_create_task(c, garbage, sizeof garbage, &id, &created, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_create_task(c, truncated, sizeof truncated, &id, &created, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_create_task(c, garbage, 0, &id, &created, E));
    mp_builder b;
    mp_init(&b);
    mp_map(&b, 1);
    mp_str(&b, "name");
    mp_int(&b, 42); /* wrong type */
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_create_task(c, (const uint8_t *)b.buf.data, b.buf.size, &id, &created, E));
    mp_free(&b);
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_client_new(url, garbage, sizeof garbage, (const tasker_client **)&out.data, E));
    CHECK(out.data == NULL); /* outputs untouched on failure */
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_register_template_msgpack(c, truncated, sizeof truncated, E));
    const char bad_utf8[] = {'n', (char)0xff, 0};
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_register_handler(c, bad_utf8, square, NULL, NULL, NULL, E));
    /* unknown template, cyclic template, bad URL, unknown ids */
    mp_builder r;
    mp_request(&r, "nowhere", "nothing", 1, g_tag);
    EXPECT_CODE(TASKER_RESULT_UNKNOWN_TEMPLATE, tasker_create_task(c, (const uint8_t *)r.buf.data, r.buf.size, &id, &created, E));
    mp_free(&r);
    const char *cyclic = "name: cyc\nstep_templates:\n  - {name: A, handler: h, depends_on_step: B}\n  - {name: B, handler: h, depends_on_step: A}\n";
    EXPECT_CODE(TASKER_RESULT_TEMPLATE_CYCLE, tasker_register_template_yaml(c, (const uint8_t *)cyclic, strlen(cyclic), E));
    /* 200 KB of '[' is refused before the YAML parser sees it (it used to parse for minutes) */
    size_t deep_len = 200000;
    char *deep = malloc(deep_len);
    CHECK(deep);
    memset(deep, '[', deep_len);
    EXPECT_CODE(TASKER_RESULT_INVALID_TEMPLATE, tasker_register_template_yaml(c, (const uint8_t *)deep, deep_len, E));
    free(deep);
    const char *malformed = "name: [oops";
    EXPECT_CODE(TASKER_RESULT_INVALID_TEMPLATE, tasker_register_template_yaml(c, (const uint8_t *)malformed, strlen(malformed), E));
    const tasker_client *nc = NULL;
    EXPECT_CODE(TASKER_RESULT_CONFIG, tasker_client_new("mysql://nope", NULL, 0, &nc, E));
    CHECK(nc == NULL);
    /* an unsupported scheme's error names the URL with its password masked */
    const char *leaky[] = {"Postgres://u:s3cret@h/db", " postgres://u:s3cret@h/db", "mysql://u:s3cret@h"};
    for (size_t i = 0; i < sizeof leaky / sizeof leaky[0]; i++) {
        tasker_error *cerr = NULL;
        CHECK(tasker_client_new(leaky[i], NULL, 0, &nc, &cerr) == TASKER_RESULT_CONFIG);
        CHECK(strstr(tasker_error_message(cerr), "s3cret") == NULL);
        CHECK(strstr(tasker_error_message(cerr), "u:***@h") != NULL);
        tasker_error_free(cerr);
    }
    EXPECT_CODE(TASKER_RESULT_TASK_NOT_FOUND, tasker_task_view(c, 987654321, &out, E));
    EXPECT_CODE(TASKER_RESULT_STEP_NOT_FOUND, tasker_retry_step(c, 987654321, NULL, E));
    CHECK(out.data == NULL);
    /* unknown handler: the step fails with a clear class */
    const char *orphan = "name: orphan\nnamespace_name: c_tests\nstep_templates:\n  - {name: s, handler: nobody_home}\n";
    OK(tasker_register_template_yaml(c, (const uint8_t *)orphan, strlen(orphan), E));
    id = create(c, "c_tests", "orphan", 1, g_tag);
    OK(tasker_run_task(c, id, NULL, E));
    OK(tasker_task_view(c, id, &out, E));
    mp_doc v;
    doc_parse(&v, out.data, out.len);
    CHECK(str_eq(get(get(get(view_step(v.root, "s"), "results"), "error"), "class"), "HandlerNotFound"));
    doc_free(&v);
    tasker_bytes_free(&out);
    /* NULL-tolerant frees */
    tasker_client_free(NULL);
    tasker_worker_free(NULL);
    tasker_subscription_free(NULL);
    tasker_error_free(NULL);
    tasker_bytes_free(NULL);
    tasker_bytes_free(&out);
    tasker_client_free(c);
    remove_test_db(url);
}

/* A task request whose context.x breaks the document policy (kind 4: trailing bytes). */
static void poison_request(mp_builder *b, int kind, int serial) {
    char tag[160];
    snprintf(tag, sizeof tag, "%s-poison-%d", g_tag, serial);
    mp_init(b);
    mp_map(b, 3);
    mp_str(b, "name");
    mp_str(b, "nan_task");
    mp_str(b, "namespace");
    mp_str(b, "c_tests");
    mp_str(b, "context");
    mp_map(b, 2);
    mp_str(b, "tag");
    mp_str(b, tag);
    mp_str(b, "x");
    switch (kind) {
    case 0: msgpack_pack_double(&b->pk, NAN); break;
    case 1: msgpack_pack_double(&b->pk, -INFINITY); break;
    case 2:
        msgpack_pack_str(&b->pk, 3);
        msgpack_pack_str_body(&b->pk, "a\0b", 3);
        break;
    case 3:
        for (int i = 0; i < 100; i++) msgpack_pack_array(&b->pk, 1);
        mp_int(b, 1);
        break;
    default:
        mp_int(b, 1);
        msgpack_sbuffer_write(&b->buf, "\xc0", 1);
    }
}

/* The document policy at the boundary: each poison request is refused naming its field (and so
   never stored); the ordinary tasks around it complete. An output with NaN is refused too. */
static void test_document_policy(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    OK(tasker_register_handler(c, "nan_output", nan_output, NULL, NULL, NULL, E));
    one_step_template(c, "nan_task", "nan_output", "");
    int64_t ordinary[5];
    const char *expect[] = {"context.x", "context.x", "context.x", "context.x", "trailing"};
    for (int kind = 0; kind < 5; kind++) {
        ordinary[kind] = create(c, "c_tests", "nan_task", kind, g_tag);
        mp_builder r;
        poison_request(&r, kind, kind);
        int64_t id = -1;
        bool created = false;
        tasker_error *err = NULL;
        tasker_result rc = tasker_create_task(c, (const uint8_t *)r.buf.data, r.buf.size, &id, &created, &err);
        CHECK(rc == TASKER_RESULT_INVALID_ARGUMENT);
        if (strstr(tasker_error_message(err), expect[kind]) == NULL) {
            fprintf(stderr, "  poison %d: %s\n", kind, tasker_error_message(err));
            g_failures++;
        }
        CHECK(id == -1);
        tasker_error_free(err);
        mp_free(&r);
    }
    for (int kind = 0; kind < 5; kind++) {
        g_nan_output_rc = TASKER_RESULT_OK;
        tasker_bytes exec = {0};
        OK(tasker_run_task(c, ordinary[kind], &exec, E));
        mp_doc e;
        doc_parse(&e, exec.data, exec.len);
        CHECK(str_eq(get(e.root, "task_state"), "complete"));
        doc_free(&e);
        tasker_bytes_free(&exec);
        CHECK(g_nan_output_rc == TASKER_RESULT_INVALID_ARGUMENT);
    }
    tasker_client_free(c);
    remove_test_db(url);
}

/* A tasker_step_call used after its callback returned is INVALID_STATE, never a dereference. */
static void test_stale_step_call(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    OK(tasker_register_handler(c, "keeper", keeper, NULL, NULL, NULL, E));
    one_step_template(c, "keeper_task", "keeper", "");
    int64_t id = create(c, "c_tests", "keeper_task", 1, g_tag);
    OK(tasker_run_task(c, id, NULL, E));
    CHECK(g_kept_call != NULL);
    CHECK(g_kept_step_id > 0);
    const uint8_t empty_map[] = {0x80};
    int64_t expires = -7;
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_heartbeat(g_kept_call, &expires, E));
    int32_t reason = 0;
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_is_cancelled(g_kept_call, &reason, E));
    CHECK(expires == -7);
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_set_output(g_kept_call, empty_map, 1, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_fail(g_kept_call, "late", NULL, true, -1, NULL, 0, E));
    CHECK(tasker_step_call_step_id(g_kept_call) == 0);
    /* also through tasker_call_handler (no database) */
    mp_builder b;
    mp_init(&b);
    mp_map(&b, 1);
    mp_str(&b, "step");
    mp_map(&b, 1);
    mp_str(&b, "handler");
    mp_str(&b, "keeper");
    tasker_bytes out = {0};
    OK(tasker_call_handler(c, (const uint8_t *)b.buf.data, b.buf.size, &out, E));
    mp_free(&b);
    tasker_bytes_free(&out);
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_set_output(g_kept_call, empty_map, 1, E));
    CHECK(tasker_step_call_step_id(g_kept_call) == 0);
    tasker_client_free(c);
    remove_test_db(url);
}

/* tasker_call_handler: one handler call without the database, outcome as a document. */
static void call_outcome(const tasker_client *c, const char *handler, int64_t n, mp_doc *out, tasker_bytes *bytes) {
    mp_builder b;
    mp_init(&b);
    mp_map(&b, 2);
    mp_str(&b, "task");
    mp_map(&b, 1);
    mp_str(&b, "context");
    mp_map(&b, 1);
    mp_str(&b, "n");
    mp_int(&b, n);
    mp_str(&b, "step");
    mp_map(&b, 1);
    mp_str(&b, "handler");
    mp_str(&b, handler);
    OK(tasker_call_handler(c, (const uint8_t *)b.buf.data, b.buf.size, bytes, E));
    mp_free(&b);
    doc_parse(out, bytes->data, bytes->len);
}

static void test_call_handler(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    handler_state *st = calloc(1, sizeof *st);
    st->fail_first = 100;
    st->retry_after = -1;
    OK(tasker_register_handler(c, "square", square, wrap_results, st, free_state, E));
    OK(tasker_register_handler(c, "flaky", flaky, NULL, st, NULL, E));
    tasker_bytes out = {0};
    mp_doc d;
    /* process and process_results both run: {"by": "process_results", "wrapped": 3^2} */
    call_outcome(c, "square", 3, &d, &out);
    CHECK(str_eq(get(d.root, "status"), "completed"));
    CHECK(as_int(get(get(d.root, "results"), "wrapped")) == 9);
    CHECK(str_eq(get(get(d.root, "results"), "by"), "process_results"));
    doc_free(&d);
    tasker_bytes_free(&out);
    /* a handler's failure is an outcome, not an error of the call */
    call_outcome(c, "flaky", 0, &d, &out);
    CHECK(str_eq(get(d.root, "status"), "failed"));
    CHECK(str_eq(get(get(d.root, "error"), "class"), "GatewayBusy"));
    CHECK(get(get(d.root, "error"), "retryable").type == MSGPACK_OBJECT_BOOLEAN);
    doc_free(&d);
    tasker_bytes_free(&out);
    call_outcome(c, "nobody", 0, &d, &out);
    CHECK(str_eq(get(d.root, "status"), "failed"));
    CHECK(str_eq(get(get(d.root, "error"), "class"), "HandlerNotFound"));
    doc_free(&d);
    tasker_bytes_free(&out);
    /* bad arguments */
    const uint8_t garbage[] = {0xc1, 0x00, 0x01};
    const uint8_t empty_map[] = {0x80};
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_call_handler(NULL, empty_map, 1, &out, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_call_handler(c, NULL, 1, &out, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_call_handler(c, empty_map, 1, NULL, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_call_handler(c, garbage, sizeof garbage, &out, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_call_handler(c, empty_map, 0, &out, E));
    CHECK(out.data == NULL);
    /* no step ran in the database */
    tasker_bytes health = {0};
    OK(tasker_health(c, &health, E));
    tasker_bytes_free(&health);
    tasker_client_free(c);
    CHECK(st->finalized == 1);
    free(st);
    remove_test_db(url);
}

/* ---- step-call accessors and JSON entry points (no MessagePack on the C side) ------------ */

/* JSON text nesting `depth` arrays around 1, inside {"name": <template>, "context": {"x": ...}}. */
static char *deep_request(const char *name, int depth) {
    size_t n = 128 + strlen(name) + 2 * (size_t)depth;
    char *s = malloc(n);
    int at = snprintf(s, n, "{\"name\": \"%s\", \"namespace\": \"c_tests\", \"context\": {\"x\": ", name);
    for (int i = 0; i < depth; i++) s[at++] = '[';
    s[at++] = '1';
    for (int i = 0; i < depth; i++) s[at++] = ']';
    snprintf(s + at, n - (size_t)at, "}}");
    return s;
}

/* What the `inspect` handler saw, per attempt (1 and 2). */
typedef struct {
    int64_t task_id, attempt, retry_limit;
    bool last;
    char name[64], context[256], inputs[256], dep[256], whole_step[64];
    tasker_result missing_dep_rc, null_out_rc, null_name_rc, null_call_rc;
} seen_call;
static seen_call g_seen[3];
static tasker_step_call *g_kept_inspect;

static void copy_json(char *dst, size_t n, tasker_bytes *b) {
    /* NUL-terminated, and len does not count the NUL */
    snprintf(dst, n, "%s", b->data && strlen((const char *)b->data) == b->len ? (const char *)b->data : "<bad>");
    tasker_bytes_free(b);
}

static void json_parent(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)userdata, (void)ctx, (void)len;
    const char out[] = "{\"value\": 9, \"tags\": [\"a\"]}";
    tasker_step_call_set_output_json(call, out, strlen(out), NULL);
}

static void inspect(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)userdata, (void)ctx, (void)len;
    int64_t attempt = 0;
    if (tasker_step_call_attempt(call, &attempt, NULL) != TASKER_RESULT_OK || attempt < 1 || attempt > 2) return;
    seen_call *s = &g_seen[attempt];
    s->attempt = attempt;
    tasker_step_call_task_id(call, &s->task_id, NULL);
    tasker_step_call_retry_limit(call, &s->retry_limit, NULL);
    tasker_step_call_is_last_attempt(call, &s->last, NULL);
    const char *name = NULL;
    if (tasker_step_call_step_name(call, &name, NULL) == TASKER_RESULT_OK) snprintf(s->name, sizeof s->name, "%s", name);
    tasker_bytes b = {0};
    if (tasker_step_call_task_context_json(call, &b, NULL) == TASKER_RESULT_OK) copy_json(s->context, sizeof s->context, &b);
    if (tasker_step_call_inputs_json(call, &b, NULL) == TASKER_RESULT_OK) copy_json(s->inputs, sizeof s->inputs, &b);
    if (tasker_step_call_dependency_result_json(call, "p", &b, NULL) == TASKER_RESULT_OK) copy_json(s->dep, sizeof s->dep, &b);
    if (tasker_step_call_context_json(call, &b, NULL) == TASKER_RESULT_OK) {
        tasker_bytes v = {0};
        if (tasker_json_get_string((const char *)b.data, b.len, "/step/handler", &v, NULL) == TASKER_RESULT_OK)
            copy_json(s->whole_step, sizeof s->whole_step, &v);
        tasker_bytes_free(&b);
    }
    s->missing_dep_rc = tasker_step_call_dependency_result_json(call, "nobody", &b, NULL);
    s->null_out_rc = tasker_step_call_attempt(call, NULL, NULL);
    s->null_name_rc = tasker_step_call_dependency_result_json(call, NULL, &b, NULL);
    s->null_call_rc = tasker_step_call_task_id(NULL, &s->task_id, NULL);
    g_kept_inspect = call;
    if (attempt == 1) {
        const char details[] = "{\"why\": [\"busy\"]}";
        tasker_step_call_fail_json(call, "busy", "Busy", true, 0, details, strlen(details), NULL);
        return;
    }
    const char out[] = "{\"ok\": true}";
    tasker_step_call_set_output_json(call, out, strlen(out), NULL);
}

static const char *JSON_PAIR =
    "name: json_pair\n"
    "namespace_name: c_tests\n"
    "step_templates:\n"
    "  - {name: p, handler: json_parent}\n"
    "  - {name: s, handler: inspect, depends_on_step: p, default_retry_limit: 2}\n";

static void test_step_call_accessors(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    OK(tasker_register_template_yaml(c, (const uint8_t *)JSON_PAIR, strlen(JSON_PAIR), E));
    OK(tasker_register_handler(c, "json_parent", json_parent, NULL, NULL, NULL, E));
    OK(tasker_register_handler(c, "inspect", inspect, NULL, NULL, NULL, E));
    memset(g_seen, 0, sizeof g_seen);
    char req[256];
    int n = snprintf(req, sizeof req,
                     "{\"name\": \"json_pair\", \"namespace\": \"c_tests\", \"context\": {\"n\": 3, \"tag\": \"%s-acc\"},"
                     " \"step_inputs\": {\"s\": {\"k\": \"v\"}}}",
                     g_tag);
    int64_t id = 0;
    bool created = false;
    OK(tasker_create_task_json(c, req, (size_t)n, &id, &created, E));
    CHECK(id > 0 && created);
    OK(tasker_run_task(c, id, NULL, E));
    for (int a = 1; a <= 2; a++) {
        seen_call *s = &g_seen[a];
        CHECK(s->attempt == a);
        CHECK(s->task_id == id);
        CHECK(s->retry_limit == 2);
        CHECK(s->last == (a == 2)); /* the second of two attempts is the last */
        CHECK(strcmp(s->name, "s") == 0);
        CHECK(strstr(s->context, "\"n\":3") && strstr(s->context, "-acc\""));
        CHECK(strcmp(s->inputs, "{\"k\":\"v\"}") == 0);
        CHECK(strcmp(s->dep, "{\"tags\":[\"a\"],\"value\":9}") == 0);
        CHECK(strcmp(s->whole_step, "inspect") == 0);
        CHECK(s->missing_dep_rc == TASKER_RESULT_STEP_NOT_FOUND);
        CHECK(s->null_out_rc == TASKER_RESULT_NULL_PARAMETER);
        CHECK(s->null_name_rc == TASKER_RESULT_NULL_PARAMETER);
        CHECK(s->null_call_rc == TASKER_RESULT_NULL_PARAMETER);
    }
    /* the JSON failure details were recorded, and the view reads back as JSON */
    tasker_bytes view = {0};
    OK(tasker_task_view_json(c, id, &view, E));
    CHECK(strlen((const char *)view.data) == view.len);
    tasker_bytes v = {0};
    OK(tasker_json_get_string((const char *)view.data, view.len, "/state", &v, E));
    CHECK(strcmp((const char *)v.data, "complete") == 0);
    tasker_bytes_free(&v);
    /* the step named s */
    char ptr[64];
    int at = -1;
    for (int i = 0; i < 2 && at < 0; i++) {
        snprintf(ptr, sizeof ptr, "/steps/%d/name", i);
        OK(tasker_json_get_string((const char *)view.data, view.len, ptr, &v, E));
        if (strcmp((const char *)v.data, "s") == 0) at = i;
        tasker_bytes_free(&v);
    }
    CHECK(at >= 0);
    int64_t attempts = 0;
    snprintf(ptr, sizeof ptr, "/steps/%d/attempts", at);
    OK(tasker_json_get_i64((const char *)view.data, view.len, ptr, &attempts, E));
    CHECK(attempts == 2);
    snprintf(ptr, sizeof ptr, "/steps/%d/results", at);
    OK(tasker_json_get((const char *)view.data, view.len, ptr, &v, E));
    CHECK(strcmp((const char *)v.data, "{\"ok\":true}") == 0);
    tasker_bytes_free(&v);
    tasker_bytes_free(&view);

    /* a call kept after its callback returned: every accessor is INVALID_STATE, outs untouched */
    CHECK(g_kept_inspect != NULL);
    int64_t i64 = -7;
    bool last = true;
    const char *name = "untouched";
    tasker_bytes out = {0};
    const char json[] = "{}";
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_task_id(g_kept_inspect, &i64, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_attempt(g_kept_inspect, &i64, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_retry_limit(g_kept_inspect, &i64, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_is_last_attempt(g_kept_inspect, &last, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_step_name(g_kept_inspect, &name, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_context_json(g_kept_inspect, &out, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_task_context_json(g_kept_inspect, &out, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_inputs_json(g_kept_inspect, &out, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_dependency_result_json(g_kept_inspect, "p", &out, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_set_output_json(g_kept_inspect, json, 2, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE,
                tasker_step_call_fail_json(g_kept_inspect, "late", NULL, true, -1, json, 2, E));
    CHECK(i64 == -7 && last && strcmp(name, "untouched") == 0 && out.data == NULL);
    /* through tasker_call_handler (no database): the defaults of an empty context */
    memset(g_seen, 0, sizeof g_seen);
    const uint8_t ctx[] = {0x81, 0xa4, 's', 't', 'e', 'p', 0x82, 0xa7, 'h', 'a', 'n', 'd', 'l', 'e', 'r',
                           0xa7, 'i', 'n', 's', 'p', 'e', 'c', 't', 0xa7, 'a', 't', 't', 'e', 'm', 'p', 't', 0x02};
    OK(tasker_call_handler(c, ctx, sizeof ctx, &out, E));
    tasker_bytes_free(&out);
    CHECK(g_seen[2].attempt == 2 && g_seen[2].retry_limit == 0 && g_seen[2].last);
    CHECK(g_seen[2].missing_dep_rc == TASKER_RESULT_STEP_NOT_FOUND);
    EXPECT_CODE(TASKER_RESULT_INVALID_STATE, tasker_step_call_attempt(g_kept_inspect, &i64, E));
    tasker_client_free(c);
    remove_test_db(url);
}

/* set_output_json refusals, recorded from inside a handler (which then reports a valid output). */
static tasker_result g_json_rc[4];
static char g_json_msg[4][256];
static void json_refusals(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)userdata, (void)ctx, (void)len;
    const char *bad[] = {"{\"v\": ", "{\"v\": 1} {}", "{\"v\": \"a\\u0000b\"}", NULL};
    char *deep = deep_request("x", 100);
    bad[3] = deep;
    for (int i = 0; i < 4; i++) {
        tasker_error *err = NULL;
        g_json_rc[i] = tasker_step_call_set_output_json(call, bad[i], strlen(bad[i]), &err);
        snprintf(g_json_msg[i], sizeof g_json_msg[i], "%s", err ? tasker_error_message(err) : "");
        tasker_error_free(err);
    }
    free(deep);
    const char good[] = "{\"v\": 1}";
    tasker_step_call_set_output_json(call, good, strlen(good), NULL);
}

static void test_json_entry_points(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    OK(tasker_register_handler(c, "json_refusals", json_refusals, NULL, NULL, NULL, E));
    one_step_template(c, "json_task", "json_refusals", "");
    int64_t id = -1;
    bool created = false;
    /* misuse of tasker_create_task_json: nothing is created */
    const char ok_req[] = "{\"name\": \"json_task\", \"namespace\": \"c_tests\"}";
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_create_task_json(NULL, ok_req, strlen(ok_req), &id, &created, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_create_task_json(c, NULL, 5, &id, &created, E));
    EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, "task request is empty", tasker_create_task_json(c, ok_req, 0, &id, &created, E));
    const char *cases[][2] = {
        {"{\"name\": \"json_task\"", "malformed JSON task request"},
        {"{\"name\": \"json_task\"} []", "trailing characters"},
        {"{\"name\": 7}", "invalid type"},
        {"{\"name\": \"json_task\", \"namespace\": \"c_tests\", \"context\": {\"x\": NaN}}", "malformed JSON"},
        {"{\"name\": \"json_task\", \"namespace\": \"c_tests\", \"context\": {\"x\": 1e999}}", "out of range"},
        {"{\"name\": \"json_task\", \"namespace\": \"c_tests\", \"context\": {\"x\": \"a\\u0000\"}}", "context.x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, cases[i][1],
                       tasker_create_task_json(c, cases[i][0], strlen(cases[i][0]), &id, &created, E));
    /* too deep: refused by the scan before parsing (1000 levels), or by the field check (65) */
    char *deep = deep_request("json_task", 1000);
    EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, "nests deeper than 72 levels",
                   tasker_create_task_json(c, deep, strlen(deep), &id, &created, E));
    free(deep);
    deep = deep_request("json_task", 64);
    EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, "context.x",
                   tasker_create_task_json(c, deep, strlen(deep), &id, &created, E));
    free(deep);
    const char unknown[] = "{\"name\": \"no_such_template\"}";
    EXPECT_CODE(TASKER_RESULT_UNKNOWN_TEMPLATE, tasker_create_task_json(c, unknown, strlen(unknown), &id, &created, E));
    CHECK(id == -1);
    /* one accepted request; the same handler refuses bad outputs and reports a good one */
    char req[160];
    int n = snprintf(req, sizeof req, "{\"name\": \"json_task\", \"namespace\": \"c_tests\", \"tags\": [\"%s-json\"]}  \n", g_tag);
    OK(tasker_create_task_json(c, req, (size_t)n, &id, &created, E));
    tasker_bytes exec = {0}, json = {0}, v = {0};
    OK(tasker_run_task(c, id, &exec, E));
    const char *parts[] = {"malformed JSON step output", "trailing characters", "output.v", "nests deeper than 72"};
    for (int i = 0; i < 4; i++) {
        CHECK(g_json_rc[i] == TASKER_RESULT_INVALID_ARGUMENT);
        if (!strstr(g_json_msg[i], parts[i])) fprintf(stderr, "  refusal %d: %s\n", i, g_json_msg[i]);
        CHECK(strstr(g_json_msg[i], parts[i]));
    }
    /* the MessagePack execution context, converted */
    OK(tasker_document_json(exec.data, exec.len, &json, E));
    OK(tasker_json_get_string((const char *)json.data, json.len, "/execution_status", &v, E));
    CHECK(strcmp((const char *)v.data, "all_complete") == 0);
    tasker_bytes_free(&v);
    tasker_bytes_free(&json);
    tasker_bytes_free(&exec);
    OK(tasker_execution_context_json(c, id, &json, E));
    int64_t total = 0;
    OK(tasker_json_get_i64((const char *)json.data, json.len, "/total_steps", &total, E));
    CHECK(total == 1);
    /* readers: absent pointer, wrong type, bad document, NULLs */
    EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, "no value at \"/nope\"",
                   tasker_json_get_i64((const char *)json.data, json.len, "/nope", &total, E));
    EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, "is a string, not an integer",
                   tasker_json_get_i64((const char *)json.data, json.len, "/health", &total, E));
    EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, "is a number, not a string",
                   tasker_json_get_string((const char *)json.data, json.len, "/total_steps", &v, E));
    EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, "malformed JSON", tasker_json_get("{", 1, "", &v, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_json_get((const char *)json.data, json.len, NULL, &v, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_json_get((const char *)json.data, json.len, "", NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_json_get_i64((const char *)json.data, json.len, "", NULL, E));
    CHECK(v.data == NULL && total == 1);
    tasker_bytes_free(&json);
    const uint8_t garbage[] = {0xc1};
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_document_json(garbage, 1, &json, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_document_json(garbage, 1, NULL, E));
    /* views: NULL out, unknown task; health */
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_task_view_json(c, id, NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_execution_context_json(NULL, id, &json, E));
    EXPECT_CODE(TASKER_RESULT_TASK_NOT_FOUND, tasker_task_view_json(c, 1 << 30, &json, E));
    EXPECT_CODE(TASKER_RESULT_TASK_NOT_FOUND, tasker_execution_context_json(c, 1 << 30, &json, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_health_json(c, NULL, E));
    OK(tasker_health_json(c, &json, E));
    OK(tasker_json_get_i64((const char *)json.data, json.len, "/total_tasks", &total, E));
    CHECK(total >= 1);
    CHECK(strlen((const char *)json.data) == json.len);
    tasker_bytes_free(&json);
    tasker_client_free(c);
    remove_test_db(url);
}

/* ---- shutdown: stop, interrupt, close ------------------------------------------------- */

/* A client whose idle workers would poll once an hour: only a stop or an interrupt wakes them. */
static const tasker_client *open_slow_poll_client(char *url, size_t n) {
    mp_builder o;
    mp_init(&o);
    mp_map(&o, 1);
    mp_str(&o, "poll_interval_ms");
    mp_int(&o, 3600000);
    return open_client_with(url, n, &o);
}

typedef struct {
    tasker_worker *worker;
    tasker_result rc;
    int done;
} worker_run;

static void *run_worker(void *arg) {
    worker_run *r = arg;
    r->rc = tasker_worker_run(r->worker, NULL, NULL);
    __atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* A handler cut short (as a wrapper's handler is by Ctrl-C): it interrupts the run and returns
   without an outcome. */
static void interrupting(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)call, (void)ctx, (void)len;
    tasker_client_interrupt((const tasker_client *)userdata);
}

/* The only step of a task: its state and attempts, and whether any transition went to error. */
static void only_step(const tasker_client *c, int64_t id, char *state, size_t n, int64_t *attempts, int *failed) {
    tasker_bytes view = {0};
    state[0] = 0;
    *failed = 0;
    if (tasker_task_view(c, id, &view, NULL) != TASKER_RESULT_OK) return;
    mp_doc v;
    doc_parse(&v, view.data, view.len);
    msgpack_object s = view_step(v.root, "s");
    msgpack_object st = get(s, "state");
    if (st.type == MSGPACK_OBJECT_STR) snprintf(state, n, "%.*s", (int)st.via.str.size, st.via.str.ptr);
    *attempts = as_int(get(s, "attempts"));
    msgpack_object ts = get(s, "transitions");
    for (uint32_t i = 0; ts.type == MSGPACK_OBJECT_ARRAY && i < ts.via.array.size; i++)
        *failed |= str_eq(get(ts.via.array.ptr[i], "to_state"), "error");
    doc_free(&v);
    tasker_bytes_free(&view);
}

static void test_stop_interrupt_close(void) {
    char url[512];
    const tasker_client *c = open_slow_poll_client(url, sizeof url);
    CHECK(c);

    /* An idle worker wakes and returns OK on a stop from another thread. */
    worker_run a = {0};
    pthread_t ta;
    OK(tasker_worker_new(c, &a.worker, E));
    CHECK(pthread_create(&ta, NULL, run_worker, &a) == 0);
    tasker_worker_stop(a.worker);
    pthread_join(ta, NULL);
    CHECK(a.rc == TASKER_RESULT_OK);
    tasker_worker_stop(NULL); /* NULL is accepted */

    /* An idle worker returns INTERRUPTED on an interrupt (repeated until its run has begun:
       an interrupt ends the calls running when it comes). */
    worker_run b = {0};
    pthread_t tb;
    OK(tasker_worker_new(c, &b.worker, E));
    CHECK(pthread_create(&tb, NULL, run_worker, &b) == 0);
    while (!__atomic_load_n(&b.done, __ATOMIC_SEQ_CST)) {
        tasker_client_interrupt(c);
        usleep(5000);
    }
    pthread_join(tb, NULL);
    CHECK(b.rc == TASKER_RESULT_INTERRUPTED);
    tasker_client_interrupt(NULL); /* NULL is accepted */

    /* run_task whose handler was cut short: INTERRUPTED, the step ready again, no attempt counted,
       no failure recorded. */
    OK(tasker_register_handler(c, "interrupting", interrupting, NULL, (void *)c, NULL, E));
    one_step_template(c, "interrupted_task", "interrupting", "");
    int64_t id = create(c, "c_tests", "interrupted_task", 1, g_tag);
    CHECK(id > 0);
    tasker_error *err = NULL;
    CHECK(tasker_run_task(c, id, NULL, &err) == TASKER_RESULT_INTERRUPTED);
    CHECK(tasker_error_code(err) == TASKER_RESULT_INTERRUPTED);
    tasker_error_free(err);
    char state[32];
    int64_t attempts = -1;
    int failed = 1;
    only_step(c, id, state, sizeof state, &attempts, &failed);
    CHECK(strcmp(state, "pending") == 0);
    CHECK(attempts == 0);
    CHECK(!failed);

    /* close: idempotent; afterwards calls fail with INVALID_STATE, workers return at once. */
    OK(tasker_client_close(c, E));
    OK(tasker_client_close(c, E));
    err = NULL;
    CHECK(tasker_run_task(c, id, NULL, &err) == TASKER_RESULT_INVALID_STATE);
    tasker_error_free(err);
    tasker_bytes health = {0};
    CHECK(tasker_health(c, &health, NULL) == TASKER_RESULT_INVALID_STATE);
    CHECK(tasker_worker_run(a.worker, NULL, NULL) == TASKER_RESULT_INVALID_STATE);
    CHECK(tasker_client_close(NULL, NULL) == TASKER_RESULT_NULL_PARAMETER);
    tasker_worker_free(a.worker);
    tasker_worker_free(b.worker);
    tasker_client_free(c);
    remove_test_db(url);
}

/* ---- wait_task ------------------------------------------------------------------------ */

typedef struct {
    const tasker_client *client;
    int64_t task_id;
    tasker_bytes out;
    tasker_result rc;
    int done;
} task_wait;

static void *wait_for_task(void *arg) {
    task_wait *w = arg;
    w->rc = tasker_wait_task(w->client, w->task_id, 600000, &w->out, NULL);
    __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_wait_task(void) {
    char url[512];
    /* Polls once an hour: the waits below end on a commit, a timeout or an interrupt. */
    const tasker_client *c = open_slow_poll_client(url, sizeof url);
    CHECK(c);
    handler_state *st = calloc(1, sizeof *st);
    OK(tasker_register_handler(c, "square", square, NULL, st, free_state, E));
    one_step_template(c, "waited_task", "square", "");
    int64_t id = create(c, "c_tests", "waited_task", 3, g_tag);
    CHECK(id > 0);

    /* A timeout is not an error: timed_out and the view as it is. */
    tasker_bytes json = {0};
    OK(tasker_wait_task_json(c, id, 0, &json, E));
    CHECK(json.data && strstr((const char *)json.data, "\"timed_out\":true") != NULL);
    tasker_bytes_free(&json);

    /* Another thread waits while this one runs the task: the commit wakes it. */
    task_wait w = {.client = c, .task_id = id};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, wait_for_task, &w) == 0);
    OK(tasker_run_task(c, id, NULL, E));
    pthread_join(t, NULL);
    CHECK(w.rc == TASKER_RESULT_OK);
    mp_doc d;
    doc_parse(&d, w.out.data, w.out.len);
    CHECK(get(d.root, "timed_out").type == MSGPACK_OBJECT_BOOLEAN && !get(d.root, "timed_out").via.boolean);
    CHECK(str_eq(get(get(d.root, "task"), "state"), "complete"));
    CHECK(as_int(get(get(view_step(get(d.root, "task"), "s"), "results"), "value")) == 9);
    doc_free(&d);
    tasker_bytes_free(&w.out);

    /* A wait on a task nobody runs ends with INTERRUPTED on tasker_client_interrupt. */
    int64_t idle = create(c, "c_tests", "waited_task", 4, g_tag);
    task_wait iw = {.client = c, .task_id = idle};
    CHECK(pthread_create(&t, NULL, wait_for_task, &iw) == 0);
    while (!__atomic_load_n(&iw.done, __ATOMIC_SEQ_CST)) {
        tasker_client_interrupt(c);
        usleep(5000);
    }
    pthread_join(t, NULL);
    CHECK(iw.rc == TASKER_RESULT_INTERRUPTED);
    CHECK(iw.out.data == NULL);

    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_wait_task(NULL, id, 0, &json, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_wait_task(c, id, 0, NULL, E));
    EXPECT_CODE(TASKER_RESULT_TASK_NOT_FOUND, tasker_wait_task(c, 1 << 30, 0, &json, E));
    tasker_client_free(c);
    CHECK(st->finalized == 1);
    free(st);
    remove_test_db(url);
}

/* ---- list_tasks, list_steps ----------------------------------------------------------- */

/* Creates a task of `listed_task` tagged "<g_tag>-list" (n makes it distinct). */
static int64_t create_listed(const tasker_client *c, int n) {
    char req[200];
    int len = snprintf(req, sizeof req,
                       "{\"name\": \"listed_task\", \"namespace\": \"c_tests\", \"context\": {\"n\": %d}, \"tags\": [\"%s-list\"]}", n,
                       g_tag);
    int64_t id = -1;
    bool created = false;
    tasker_error *err = NULL;
    if (tasker_create_task_json(c, req, (size_t)len, &id, &created, &err) != TASKER_RESULT_OK) tasker_error_free(err);
    return id;
}

static void test_list(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    handler_state *st = calloc(1, sizeof *st);
    OK(tasker_register_handler(c, "square", square, NULL, st, free_state, E));
    one_step_template(c, "listed_task", "square", "");
    int64_t ids[3];
    for (int i = 0; i < 3; i++) ids[i] = create_listed(c, i + 1);
    CHECK(ids[0] > 0 && ids[1] > ids[0] && ids[2] > ids[1]);
    OK(tasker_run_task(c, ids[0], NULL, E));

    /* JSON: this run's tasks, newest first, two per page, then the rest from the cursor. */
    char filter[200];
    int len = snprintf(filter, sizeof filter, "{\"tags\": [\"%s-list\"], \"limit\": 2}", g_tag);
    tasker_bytes page = {0}, cursor = {0};
    OK(tasker_list_tasks_json(c, filter, (size_t)len, &page, E));
    int64_t v = 0;
    OK(tasker_json_get_i64((const char *)page.data, page.len, "/items/0/task_id", &v, E));
    CHECK(v == ids[2]);
    OK(tasker_json_get_i64((const char *)page.data, page.len, "/items/1/task_id", &v, E));
    CHECK(v == ids[1]);
    OK(tasker_json_get_string((const char *)page.data, page.len, "/next_cursor", &cursor, E));
    tasker_bytes_free(&page);
    len = snprintf(filter, sizeof filter, "{\"tags\": [\"%s-list\"], \"limit\": 2, \"cursor\": \"%s\"}", g_tag,
                   (const char *)cursor.data);
    tasker_bytes_free(&cursor);
    OK(tasker_list_tasks_json(c, filter, (size_t)len, &page, E));
    OK(tasker_json_get_i64((const char *)page.data, page.len, "/items/0/task_id", &v, E));
    CHECK(v == ids[0]);
    OK(tasker_json_get_i64((const char *)page.data, page.len, "/items/0/execution/completed_steps", &v, E));
    CHECK(v == 1);
    CHECK(strstr((const char *)page.data, "\"next_cursor\":null") != NULL);
    tasker_bytes_free(&page);

    /* MessagePack: a filter by state; the steps of one task. */
    mp_builder f;
    mp_init(&f);
    mp_map(&f, 1);
    mp_str(&f, "states");
    msgpack_pack_array(&f.pk, 1);
    mp_str(&f, "complete");
    tasker_bytes out = {0};
    OK(tasker_list_tasks(c, (const uint8_t *)f.buf.data, f.buf.size, &out, E));
    mp_free(&f);
    mp_doc d;
    doc_parse(&d, out.data, out.len);
    msgpack_object items = get(d.root, "items");
    CHECK(items.type == MSGPACK_OBJECT_ARRAY);
    for (uint32_t i = 0; items.type == MSGPACK_OBJECT_ARRAY && i < items.via.array.size; i++)
        CHECK(str_eq(get(items.via.array.ptr[i], "state"), "complete"));
    doc_free(&d);
    tasker_bytes_free(&out);
    mp_init(&f);
    mp_map(&f, 1);
    mp_str(&f, "task_id");
    mp_int(&f, ids[1]);
    OK(tasker_list_steps(c, (const uint8_t *)f.buf.data, f.buf.size, &out, E));
    mp_free(&f);
    doc_parse(&d, out.data, out.len);
    items = get(d.root, "items");
    CHECK(items.type == MSGPACK_OBJECT_ARRAY && items.via.array.size == 1);
    if (items.type == MSGPACK_OBJECT_ARRAY && items.via.array.size == 1) {
        CHECK(str_eq(get(items.via.array.ptr[0], "state"), "pending"));
        CHECK(as_int(get(items.via.array.ptr[0], "task_id")) == ids[1]);
    }
    doc_free(&d);
    tasker_bytes_free(&out);
    OK(tasker_list_steps(c, NULL, 0, &out, E)); /* no filter: every step */
    tasker_bytes_free(&out);

    /* misuse */
    const char *bad[][2] = {{"{\"limit\": 0}", "limit"},
                            {"{\"limit\": 1001}", "limit"},
                            {"{\"cursor\": \"nope\"}", "cursor"},
                            {"{\"bogus\": 1}", "unknown field"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, bad[i][1], tasker_list_tasks_json(c, bad[i][0], strlen(bad[i][0]), &page, E));
        EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, "", tasker_list_steps_json(c, bad[i][0], strlen(bad[i][0]), &page, E));
    }
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_list_tasks(NULL, NULL, 0, &out, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_list_tasks(c, NULL, 0, NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_list_steps(c, NULL, 5, &out, E));
    tasker_client_free(c);
    CHECK(st->finalized == 1);
    free(st);
    remove_test_db(url);
}

/* ---- metrics --------------------------------------------------------------------------- */

static void test_metrics(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    handler_state *st = calloc(1, sizeof *st);
    st->fail_first = 1;
    st->retry_after = 0.01;
    OK(tasker_register_handler(c, "flaky", flaky, NULL, st, free_state, E));
    one_step_template(c, "metered_task", "flaky", "");
    int64_t id = create(c, "c_tests", "metered_task", 5, g_tag);
    CHECK(id > 0);
    OK(tasker_run_task(c, id, NULL, E));

    /* JSON: this client's one series (a fresh client: exact counts, also on a shared database). */
    tasker_bytes json = {0}, handler = {0};
    OK(tasker_metrics_json(c, &json, E));
    const char *j = (const char *)json.data;
    int64_t v = -1;
    OK(tasker_json_get_i64(j, json.len, "/steps/0/completed", &v, E));
    CHECK(v == 1);
    OK(tasker_json_get_i64(j, json.len, "/steps/0/failed", &v, E));
    CHECK(v == 1);
    OK(tasker_json_get_i64(j, json.len, "/steps/0/retried", &v, E));
    CHECK(v == 1);
    OK(tasker_json_get_i64(j, json.len, "/steps/0/duration/count", &v, E));
    CHECK(v == 2);
    OK(tasker_json_get_string(j, json.len, "/steps/0/handler", &handler, E));
    CHECK(strcmp((const char *)handler.data, "flaky") == 0);
    OK(tasker_json_get_i64(j, json.len, "/ready_steps", &v, E));
    CHECK(v >= 0);
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_json_get_i64(j, json.len, "/steps/1", &v, E));
    tasker_bytes_free(&handler);
    tasker_bytes_free(&json);

    /* MessagePack: the same document. */
    tasker_bytes out = {0};
    OK(tasker_metrics(c, &out, E));
    mp_doc d;
    doc_parse(&d, out.data, out.len);
    msgpack_object steps = get(d.root, "steps");
    CHECK(steps.type == MSGPACK_OBJECT_ARRAY && steps.via.array.size == 1);
    if (steps.type == MSGPACK_OBJECT_ARRAY && steps.via.array.size == 1) {
        CHECK(str_eq(get(steps.via.array.ptr[0], "template"), "metered_task"));
        CHECK(str_eq(get(steps.via.array.ptr[0], "namespace"), "c_tests"));
        CHECK(as_int(get(get(steps.via.array.ptr[0], "start_delay"), "count")) == 2);
    }
    msgpack_object states = get(d.root, "tasks_by_state");
    CHECK(states.type == MSGPACK_OBJECT_ARRAY && states.via.array.size == 6);
    doc_free(&d);
    tasker_bytes_free(&out);

    /* Prometheus text, NUL-terminated. */
    tasker_bytes text = {0};
    OK(tasker_metrics_text(c, &text, E));
    CHECK(text.data && text.data[text.len] == 0);
    const char *t = (const char *)text.data;
    CHECK(t && strstr(t, "# TYPE tasker_steps_completed_total counter\n") != NULL);
    CHECK(t && strstr(t, "tasker_steps_retried_total{namespace=\"c_tests\",template=\"metered_task\",version=\"0.1.0\","
                         "handler=\"flaky\"} 1\n") != NULL);
    CHECK(t && strstr(t, "# TYPE tasker_step_duration_seconds histogram\n") != NULL);
    CHECK(t && strstr(t, "tasker_tasks{state=\"complete\"} ") != NULL);
    tasker_bytes_free(&text);

    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_metrics(NULL, &out, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_metrics_json(c, NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_metrics_text(c, NULL, E));
    tasker_client_free(c);
    CHECK(st->finalized == 1);
    free(st);
    remove_test_db(url);
}

/* ---- main ----------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case;

/* ---- dashboard ------------------------------------------------------------------------ */

/* GETs `path` from 127.0.0.1:`port` over a raw socket; writes the first bytes of the reply. */
static int http_get(int port, const char *path, char *reply, size_t n) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    char req[256];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)len) != len) { close(fd); return -1; }
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read(fd, reply + got, n - 1 - got)) > 0) got += (size_t)r;
    reply[got] = 0;
    close(fd);
    return (int)got;
}

static void test_dashboard(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    mp_builder o;
    mp_init(&o);
    mp_map(&o, 1);
    mp_str(&o, "allow_actions");
    msgpack_pack_true(&o.pk);
    tasker_dashboard *d = NULL;
    tasker_result rc = tasker_dashboard_start(c, "127.0.0.1:0", (const uint8_t *)o.buf.data, o.buf.size, &d, NULL);
    mp_free(&o);
    CHECK(rc == TASKER_RESULT_OK && d);
    tasker_bytes addr = {0};
    OK(tasker_dashboard_address(d, &addr, E));
    CHECK(strncmp((const char *)addr.data, "127.0.0.1:", 10) == 0 && strlen((const char *)addr.data) == addr.len);
    int port = atoi((const char *)addr.data + 10);
    tasker_bytes_free(&addr);
    CHECK(port > 0);
    char reply[4096];
    CHECK(http_get(port, "/tasks", reply, sizeof reply) > 0);
    CHECK(strncmp(reply, "HTTP/1.1 200", 12) == 0);
    tasker_dashboard_stop(d);
    CHECK(http_get(port, "/", reply, sizeof reply) < 0); /* stopped: the port is closed */
    tasker_dashboard_stop(NULL);

    /* Off loopback without a token, an unknown option, NULL out. */
    tasker_dashboard *nd = NULL;
    EXPECT_MESSAGE(TASKER_RESULT_CONFIG, "token", tasker_dashboard_start(c, "0.0.0.0:0", NULL, 0, &nd, E));
    mp_init(&o);
    mp_map(&o, 1);
    mp_str(&o, "colour");
    mp_str(&o, "blue");
    tasker_error *err = NULL;
    rc = tasker_dashboard_start(c, "127.0.0.1:0", (const uint8_t *)o.buf.data, o.buf.size, &nd, &err);
    mp_free(&o);
    tasker_error_free(err);
    CHECK(rc == TASKER_RESULT_INVALID_ARGUMENT && nd == NULL);
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_dashboard_start(c, NULL, NULL, 0, NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_dashboard_address(NULL, &addr, E));

    tasker_client_free(c);
    remove_test_db(url);
}

/* ---- cron schedules ------------------------------------------------------------------- */

/* A schedule spec: every second, skipping missed ticks, named after this run (the PostgreSQL
   database is shared by the whole run). */
static void mp_schedule(mp_builder *b, const char *name, const char *cron) {
    mp_init(b);
    mp_map(b, 5);
    mp_str(b, "name");
    mp_str(b, name);
    mp_str(b, "namespace");
    mp_str(b, "c_tests");
    mp_str(b, "template");
    mp_str(b, "scheduled_task");
    mp_str(b, "cron");
    mp_str(b, cron);
    mp_str(b, "context");
    mp_map(b, 1);
    mp_str(b, "n");
    mp_int(b, 3);
}

static void test_schedules(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    one_step_template(c, "scheduled_task", "square", "");
    char name[160];
    snprintf(name, sizeof name, "%s-every-second", g_tag);

    mp_builder b;
    mp_schedule(&b, name, "* * * * * *");
    tasker_bytes out = {0};
    OK(tasker_schedule_upsert(c, (const uint8_t *)b.buf.data, b.buf.size, &out, E));
    mp_free(&b);
    mp_doc d;
    doc_parse(&d, out.data, out.len);
    CHECK(str_eq(get(d.root, "name"), name));
    CHECK(str_eq(get(d.root, "time_zone"), "UTC"));
    CHECK(str_eq(get(d.root, "missed"), "skip"));
    int64_t next = as_int(get(d.root, "next_tick_at"));
    CHECK(next > 0);
    doc_free(&d);
    tasker_bytes_free(&out);

    /* An hour later: missed ticks are skipped, the latest one fires once. */
    uint64_t created = 0;
    int64_t later = (int64_t)time(NULL) * 1000 + 3600 * 1000;
    OK(tasker_schedule_fire_due(c, later, &created, E));
    CHECK(created == 1);
    OK(tasker_schedule_fire_due(c, later, &created, E));
    CHECK(created == 0);

    bool found = false;
    OK(tasker_schedule_set_enabled(c, name, false, &found, E));
    CHECK(found);
    OK(tasker_schedule_list(c, &out, E));
    doc_parse(&d, out.data, out.len);
    CHECK(d.root.type == MSGPACK_OBJECT_ARRAY);
    int seen = 0;
    for (uint32_t i = 0; d.root.type == MSGPACK_OBJECT_ARRAY && i < d.root.via.array.size; i++) {
        msgpack_object s = d.root.via.array.ptr[i];
        if (str_eq(get(s, "name"), name)) {
            seen++;
            CHECK(get(s, "enabled").type == MSGPACK_OBJECT_BOOLEAN && !get(s, "enabled").via.boolean);
            CHECK(as_int(get(s, "last_tick_at")) > next);
        }
    }
    CHECK(seen == 1);
    doc_free(&d);
    tasker_bytes_free(&out);

    bool deleted = false;
    OK(tasker_schedule_delete(c, name, &deleted, E));
    CHECK(deleted);
    OK(tasker_schedule_delete(c, name, &deleted, E));
    CHECK(!deleted);
    OK(tasker_schedule_set_enabled(c, name, true, &found, E));
    CHECK(!found);

    /* misuse */
    mp_schedule(&b, name, "61 * * * *");
    EXPECT_MESSAGE(TASKER_RESULT_INVALID_REQUEST, "cron expression '61 * * * *'",
                   tasker_schedule_upsert(c, (const uint8_t *)b.buf.data, b.buf.size, &out, E));
    mp_free(&b);
    const char bogus[] = "\x81\xa5" "bogus" "\x01"; /* {"bogus": 1} */
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_schedule_upsert(c, (const uint8_t *)bogus, sizeof bogus - 1, &out, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_schedule_upsert(c, NULL, 5, &out, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_schedule_delete(c, NULL, NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_schedule_list(c, NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_schedule_fire_due(NULL, 0, NULL, E));
    tasker_client_free(c);
    remove_test_db(url);
}

/* The task's state in its view equals `state`. */
static int task_state_is(const tasker_client *c, int64_t id, const char *state) {
    tasker_bytes view = {0};
    if (tasker_task_view(c, id, &view, NULL) != TASKER_RESULT_OK) return 0;
    mp_doc d;
    doc_parse(&d, view.data, view.len);
    int same = str_eq(get(d.root, "state"), state);
    doc_free(&d);
    tasker_bytes_free(&view);
    return same;
}

/* What a process without workers calls itself: deadlines, retention, purge by template. */
static void test_maintenance(void) {
    char url[512];
    const tasker_client *c = open_client(url, sizeof url);
    CHECK(c);
    handler_state *st = calloc(1, sizeof *st);
    OK(tasker_register_handler(c, "square", square, NULL, st, free_state, E));
    one_step_template(c, "deadline_due", "square", "");
    one_step_template(c, "purged", "square", "");
    one_step_template(c, "spared", "square", "");

    /* A task past its 1 ms deadline that nothing ran fails. */
    char req[256];
    int n = snprintf(req, sizeof req,
                     "{\"name\": \"deadline_due\", \"namespace\": \"c_tests\", \"deadline_ms\": 1,"
                     " \"context\": {\"tag\": \"%s-deadline\"}}", g_tag);
    int64_t late = 0;
    bool created = false;
    OK(tasker_create_task_json(c, req, (size_t)n, &late, &created, E));
    usleep(20 * 1000);
    uint64_t failed = 0;
    OK(tasker_enforce_deadlines(c, &failed, E));
    CHECK(failed >= 1); /* a shared database may hold other tests' tasks past a deadline */
    CHECK(task_state_is(c, late, "error"));
    OK(tasker_enforce_deadlines(c, &failed, E));
    CHECK(failed == 0);

    /* Purge by template: only `purged`'s task goes (a dry run first, as JSON). */
    int64_t purged = create(c, "c_tests", "purged", 1, g_tag);
    int64_t spared = create(c, "c_tests", "spared", 1, g_tag);
    OK(tasker_run_task(c, purged, NULL, E));
    OK(tasker_run_task(c, spared, NULL, E));
    long long later = (long long)time(NULL) * 1000 + 60 * 1000;
    n = snprintf(req, sizeof req,
                 "{\"finished_before\": %lld, \"dry_run\": true, \"template\": {\"name\": \"purged\","
                 " \"namespace\": \"c_tests\"}}", later);
    tasker_bytes out = {0};
    OK(tasker_purge_tasks_json(c, req, (size_t)n, &out, E));
    CHECK(strstr((const char *)out.data, "\"tasks\":1") != NULL);
    tasker_bytes_free(&out);
    CHECK(task_state_is(c, purged, "complete"));
    mp_builder r;
    mp_init(&r);
    mp_map(&r, 2);
    mp_str(&r, "finished_before");
    mp_int(&r, later);
    mp_str(&r, "template");
    mp_map(&r, 1);
    mp_str(&r, "name");
    mp_str(&r, "purged");
    OK(tasker_purge_tasks(c, (const uint8_t *)r.buf.data, r.buf.size, &out, E));
    mp_free(&r);
    mp_doc d;
    doc_parse(&d, out.data, out.len);
    CHECK(as_int(get(d.root, "tasks")) == 1 && as_int(get(d.root, "steps")) == 1);
    doc_free(&d);
    tasker_bytes_free(&out);
    CHECK(!task_state_is(c, purged, "complete"));
    CHECK(task_state_is(c, spared, "complete"));

    /* Without a retention option a pass purges nothing. */
    uint64_t gone = 99;
    OK(tasker_apply_retention(c, &gone, E));
    CHECK(gone == 0);

    /* misuse */
    const char bogus[] = "{\"finished_before\": 1, \"bogus\": 1}";
    EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, "bogus", tasker_purge_tasks_json(c, bogus, strlen(bogus), &out, E));
    const char zero[] = "{\"finished_before\": 1, \"batch_size\": 0}";
    EXPECT_MESSAGE(TASKER_RESULT_INVALID_ARGUMENT, "batch_size", tasker_purge_tasks_json(c, zero, strlen(zero), &out, E));
    EXPECT_CODE(TASKER_RESULT_INVALID_ARGUMENT, tasker_purge_tasks(c, (const uint8_t *)"", 0, &out, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_purge_tasks(c, NULL, 5, &out, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_purge_tasks_json(c, bogus, strlen(bogus), NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_enforce_deadlines(NULL, NULL, E));
    EXPECT_CODE(TASKER_RESULT_NULL_PARAMETER, tasker_apply_retention(NULL, NULL, E));
    tasker_client_free(c);
    CHECK(st->finalized == 1);
    remove_test_db(url);

    /* With one, on a database of its own (a shared one holds other tests' tasks): the complete
     * task older than complete_ms goes. */
    if (strncmp(url, "sqlite://", 9) != 0) {
        free(st);
        return;
    }
    mp_builder o;
    mp_init(&o);
    mp_map(&o, 1);
    mp_str(&o, "retention");
    mp_map(&o, 1);
    mp_str(&o, "complete_ms");
    mp_int(&o, 1);
    c = open_client_with(url, sizeof url, &o);
    CHECK(c);
    one_step_template(c, "kept_briefly", "square", "");
    OK(tasker_register_handler(c, "square", square, NULL, st, NULL, E));
    int64_t brief = create(c, "c_tests", "kept_briefly", 1, g_tag);
    OK(tasker_run_task(c, brief, NULL, E));
    usleep(20 * 1000);
    OK(tasker_apply_retention(c, &gone, E));
    CHECK(gone == 1);
    EXPECT_CODE(TASKER_RESULT_TASK_NOT_FOUND, tasker_task_view(c, brief, &out, E));
    tasker_client_free(c);
    free(st);
    remove_test_db(url);
}

int main(void) {
    snprintf(g_tag, sizeof g_tag, "run-%d", (int)getpid());
    test_case tests[] = {
        {"version", test_version},
        {"diamond_with_c_handlers", test_diamond},
        {"retry_after_permanent_and_silent", test_retry_after_permanent_and_silent},
        {"heartbeat", test_heartbeat},
        {"checkpoint_resume", test_checkpoint_resume},
        {"stale_step_call", test_stale_step_call},
        {"document_policy", test_document_policy},
        {"four_threads", test_threads},
        {"host_queue", test_host_queue},
        {"events", test_events},
        {"bad_input", test_bad_input},
        {"call_handler", test_call_handler},
        {"step_call_accessors", test_step_call_accessors},
        {"json_entry_points", test_json_entry_points},
        {"stop_interrupt_close", test_stop_interrupt_close},
        {"wait_task", test_wait_task},
        {"list_tasks_and_steps", test_list},
        {"metrics", test_metrics},
        {"dashboard", test_dashboard},
        {"schedules", test_schedules},
        {"maintenance", test_maintenance},
    };
    int n = (int)(sizeof tests / sizeof tests[0]), passed = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        int before = g_failures;
        tests[i].fn();
        if (g_failures == before) {
            passed++;
            printf("test %s ... ok\n", tests[i].name);
        } else {
            failed++;
            printf("test %s ... FAILED\n", tests[i].name);
        }
    }
    printf("c-abi: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
