/*
 * make demo: the order-fulfillment workflow through the C ABI, with libtasker alone (documents
 * as JSON text; no MessagePack or JSON library needed).
 *   validate_order -> (reserve_inventory, check_fraud) -> process_payment -> ship_order
 * process_payment fails once with a retryable error asking for a retry after 1 s.
 * Runs on the embedded SQLite default, or on TASKER_DATABASE_URL (e.g. postgres://...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tasker.h"

/* The string at a JSON Pointer of a JSON document, copied into buf ("" when absent). */
static const char *str_at(const tasker_bytes *doc, const char *pointer, char *buf, size_t n) {
    tasker_bytes v = {0};
    buf[0] = '\0';
    if (tasker_json_get_string((const char *)doc->data, doc->len, pointer, &v, NULL) == TASKER_RESULT_OK)
        snprintf(buf, n, "%s", (const char *)v.data);
    tasker_bytes_free(&v);
    return buf;
}

/* The integer at a JSON Pointer of a JSON document (0 when absent). */
static long long int_at(const tasker_bytes *doc, const char *pointer) {
    int64_t v = 0;
    tasker_json_get_i64((const char *)doc->data, doc->len, pointer, &v, NULL);
    return (long long)v;
}

/* The JSON Pointer of a field of the i-th step of a task view, written to p. */
static const char *step_field(char p[64], long long i, const char *field) {
    snprintf(p, 64, "/steps/%lld/%s", i, field);
    return p;
}

/* Every handler answers {"step": <its name>, "order_id": <the task's order_id>};
 * process_payment fails on its first attempt. */
static void handler(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)userdata, (void)ctx, (void)len; /* the context is also there as MessagePack */
    const char *name = NULL;
    int64_t attempt = 0;
    tasker_step_call_step_name(call, &name, NULL);
    tasker_step_call_attempt(call, &attempt, NULL);
    if (strcmp(name, "process_payment") == 0 && attempt == 1) {
        tasker_step_call_fail(call, "payment gateway busy (429)", "GatewayBusy", true, 1.0, NULL, 0, NULL);
        return;
    }
    tasker_bytes context = {0}, order_id = {0};
    tasker_step_call_task_context_json(call, &context, NULL);
    /* the order id as JSON text ("ORD-..." with its quotes), ready to go into the output */
    tasker_json_get((const char *)context.data, context.len, "/order_id", &order_id, NULL);
    char out[256];
    int n = snprintf(out, sizeof out, "{\"step\": \"%s\", \"order_id\": %s}", name,
                     order_id.data ? (const char *)order_id.data : "null");
    tasker_step_call_set_output_json(call, out, (size_t)n, NULL);
    tasker_bytes_free(&order_id);
    tasker_bytes_free(&context);
}

/* Progress from lifecycle events (delivered on this thread, after commit, as MessagePack). */
static void on_event(void *userdata, const uint8_t *data, size_t len) {
    (void)userdata;
    tasker_bytes e = {0};
    if (tasker_document_json(data, len, &e, NULL) != TASKER_RESULT_OK) return;
    char name[64], step[64], msg[256];
    str_at(&e, "/name", name, sizeof name);
    str_at(&e, "/step_name", step, sizeof step);
    if (!strcmp(name, "step.execution_requested"))
        printf("  > %-18s started (attempt %lld)\n", step, int_at(&e, "/payload/attempt"));
    else if (!strcmp(name, "step.completed"))
        printf("  + %-18s finished in %lld ms\n", step, int_at(&e, "/payload/execution_duration_ms"));
    else if (!strcmp(name, "step.failed"))
        printf("  ! %-18s failed: %s -> retry in %lld ms\n", step, str_at(&e, "/payload/error_message", msg, sizeof msg),
               int_at(&e, "/payload/backoff_ms"));
    else
        printf("  * %s\n", name);
    tasker_bytes_free(&e);
}

static int fail(const char *what, tasker_error *err) {
    fprintf(stderr, "demo: %s failed: %s\n", what, tasker_error_message(err));
    tasker_error_free(err);
    return 1;
}

int main(void) {
    const char *steps[] = {"validate_order", "reserve_inventory", "check_fraud", "process_payment", "ship_order"};
    const char *env = getenv("TASKER_DATABASE_URL");
    const char *url = env && *env ? env : "sqlite://tasker.db";
    const char *tpl = getenv("TASKER_DEMO_TEMPLATE");
    tasker_error *err = NULL;
    const tasker_client *client = NULL;
    if (tasker_client_new(url, NULL, 0, &client, &err)) return fail("connect", err);
    if (tasker_register_template_file(client, tpl ? tpl : "examples/templates/order_fulfillment.yaml", &err))
        return fail("template", err);
    for (int i = 0; i < 5; i++)
        if (tasker_register_handler(client, steps[i], handler, NULL, NULL, NULL, &err)) return fail("handler", err);
    tasker_subscription *sub = NULL;
    if (tasker_subscribe(client, "step.execution_requested,step.completed,step.failed,task.start_requested,task.completed,task.failed",
                         on_event, NULL, NULL, &sub, &err))
        return fail("subscribe", err);

    /* The task request: a unique order id so every run creates a new task. */
    char order_id[64], request[512];
    snprintf(order_id, sizeof order_id, "ORD-%ld", (long)time(NULL));
    int n = snprintf(request, sizeof request,
                     "{\"name\": \"order_fulfillment\", \"namespace\": \"ecommerce\", \"initiator\": \"make demo\","
                     " \"context\": {\"order_id\": \"%s\", \"customer\": \"ada@example.com\", \"items\": ["
                     "{\"sku\": \"BOOK-1\", \"qty\": 2, \"price_cents\": 1999},"
                     " {\"sku\": \"PEN-9\", \"qty\": 1, \"price_cents\": 350}]}}",
                     order_id);
    int64_t task_id = 0;
    bool created = false;
    if (tasker_create_task_json(client, request, (size_t)n, &task_id, &created, &err)) return fail("create task", err);
    printf("libtasker %s (C ABI) - order %s, task %lld on %s\n", tasker_version(), order_id, (long long)task_id, url);
    if (tasker_run_task(client, task_id, NULL, &err)) return fail("run task", err);

    tasker_bytes view = {0};
    if (tasker_task_view_json(client, task_id, &view, &err)) return fail("task view", err);
    printf("\n%-18s %-12s %8s %12s\n", "step", "state", "attempts", "duration ms");
    long long total = int_at(&view, "/execution/total_steps");
    for (long long i = 0; i < total; i++) {
        char p[4][64], name[64], state[32];
        long long dur = int_at(&view, step_field(p[0], i, "processed_at")) -
                        int_at(&view, step_field(p[1], i, "last_attempted_at"));
        printf("%-18s %-12s %8lld %12lld\n", str_at(&view, step_field(p[2], i, "name"), name, sizeof name),
               str_at(&view, step_field(p[3], i, "state"), state, sizeof state),
               int_at(&view, step_field(p[0], i, "attempts")), dur);
    }
    char state[32];
    str_at(&view, "/state", state, sizeof state);
    printf("\ntask %lld: %s\n", (long long)task_id, state);
    int ok = !strcmp(state, "complete");
    tasker_bytes_free(&view);
    tasker_subscription_free(sub);
    tasker_client_free(client);
    return ok ? 0 : 1;
}
