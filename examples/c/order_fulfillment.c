/*
 * make demo: the order-fulfillment workflow through the C ABI.
 *   validate_order -> (reserve_inventory, check_fraud) -> process_payment -> ship_order
 * process_payment fails once with a retryable error asking for a retry after 1 s.
 * Runs on the embedded SQLite default, or on TASKER_DATABASE_URL (e.g. postgres://...).
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tasker.h"

static msgpack_object get(msgpack_object m, const char *key) {
    msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    if (m.type != MSGPACK_OBJECT_MAP) return nil;
    for (uint32_t i = 0; i < m.via.map.size; i++) {
        msgpack_object k = m.via.map.ptr[i].key;
        if (k.type == MSGPACK_OBJECT_STR && k.via.str.size == strlen(key) && !memcmp(k.via.str.ptr, key, k.via.str.size))
            return m.via.map.ptr[i].val;
    }
    return nil;
}
static int64_t as_int(msgpack_object o) {
    if (o.type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (int64_t)o.via.u64;
    if (o.type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return o.via.i64;
    return 0;
}
static void pstr(msgpack_packer *pk, const char *s) {
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}
#define STR(o) (int)(o).via.str.size, (o).via.str.ptr

/* Every handler answers with a small map; process_payment fails on its first attempt. */
static void handler(void *userdata, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    const char *name = userdata;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_next(&up, (const char *)ctx, len, &off);
    msgpack_object step = get(up.data, "step"), task = get(up.data, "task");
    int64_t attempt = as_int(get(step, "attempt"));
    if (strcmp(name, "process_payment") == 0 && attempt == 1) {
        tasker_step_call_fail(call, "payment gateway busy (429)", "GatewayBusy", true, 1.0, NULL, 0, NULL);
        msgpack_unpacked_destroy(&up);
        return;
    }
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pstr(&pk, "step");
    pstr(&pk, name);
    pstr(&pk, "order_id");
    msgpack_object order = get(get(task, "context"), "order_id");
    msgpack_pack_str(&pk, order.via.str.size);
    msgpack_pack_str_body(&pk, order.via.str.ptr, order.via.str.size);
    tasker_step_call_set_output(call, (const uint8_t *)buf.data, buf.size, NULL);
    msgpack_sbuffer_destroy(&buf);
    msgpack_unpacked_destroy(&up);
}

/* Progress from lifecycle events (delivered on this thread, after commit). */
static void on_event(void *userdata, const uint8_t *data, size_t len) {
    (void)userdata;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_next(&up, (const char *)data, len, &off);
    msgpack_object e = up.data, name = get(e, "name"), step = get(e, "step_name"), p = get(e, "payload");
    char n[64] = {0};
    snprintf(n, sizeof n, "%.*s", STR(name));
    if (!strcmp(n, "step.execution_requested"))
        printf("  > %-18.*s started (attempt %lld)\n", STR(step), (long long)as_int(get(p, "attempt")));
    else if (!strcmp(n, "step.completed"))
        printf("  + %-18.*s finished in %lld ms\n", STR(step), (long long)as_int(get(p, "execution_duration_ms")));
    else if (!strcmp(n, "step.failed")) {
        msgpack_object msg = get(p, "error_message");
        printf("  ! %-18.*s failed: %.*s -> retry in %lld ms\n", STR(step), STR(msg), (long long)as_int(get(p, "backoff_ms")));
    } else
        printf("  * %s\n", n);
    msgpack_unpacked_destroy(&up);
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
        if (tasker_register_handler(client, steps[i], handler, NULL, (void *)steps[i], NULL, &err)) return fail("handler", err);
    tasker_subscription *sub = NULL;
    if (tasker_subscribe(client, "step.execution_requested,step.completed,step.failed,task.start_requested,task.completed,task.failed",
                         on_event, NULL, NULL, &sub, &err))
        return fail("subscribe", err);

    /* The task request: a unique order id so every run creates a new task. */
    char order_id[64];
    snprintf(order_id, sizeof order_id, "ORD-%ld", (long)time(NULL));
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pstr(&pk, "name"), pstr(&pk, "order_fulfillment");
    pstr(&pk, "namespace"), pstr(&pk, "ecommerce");
    pstr(&pk, "initiator"), pstr(&pk, "make demo");
    pstr(&pk, "context");
    msgpack_pack_map(&pk, 3);
    pstr(&pk, "order_id"), pstr(&pk, order_id);
    pstr(&pk, "customer"), pstr(&pk, "ada@example.com");
    pstr(&pk, "items");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_map(&pk, 3), pstr(&pk, "sku"), pstr(&pk, "BOOK-1"), pstr(&pk, "qty"), msgpack_pack_int(&pk, 2), pstr(&pk, "price_cents"), msgpack_pack_int(&pk, 1999);
    msgpack_pack_map(&pk, 3), pstr(&pk, "sku"), pstr(&pk, "PEN-9"), pstr(&pk, "qty"), msgpack_pack_int(&pk, 1), pstr(&pk, "price_cents"), msgpack_pack_int(&pk, 350);
    int64_t task_id = 0;
    bool created = false;
    tasker_result rc = tasker_create_task(client, (const uint8_t *)buf.data, buf.size, &task_id, &created, &err);
    msgpack_sbuffer_destroy(&buf);
    if (rc) return fail("create task", err);
    printf("libtasker %s (C ABI) - order %s, task %lld on %s\n", tasker_version(), order_id, (long long)task_id, url);
    if (tasker_run_task(client, task_id, NULL, &err)) return fail("run task", err);

    tasker_bytes view = {0};
    if (tasker_task_view(client, task_id, &view, &err)) return fail("task view", err);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_next(&up, (const char *)view.data, view.len, &off);
    msgpack_object v = up.data, st = get(v, "state"), list = get(v, "steps");
    printf("\n%-18s %-12s %8s %12s\n", "step", "state", "attempts", "duration ms");
    for (uint32_t i = 0; i < list.via.array.size; i++) {
        msgpack_object s = list.via.array.ptr[i], name = get(s, "name"), state = get(s, "state");
        int64_t dur = as_int(get(s, "processed_at")) - as_int(get(s, "last_attempted_at"));
        printf("%-18.*s %-12.*s %8lld %12lld\n", STR(name), STR(state), (long long)as_int(get(s, "attempts")), (long long)dur);
    }
    printf("\ntask %lld: %.*s\n", (long long)task_id, STR(st));
    int ok = st.via.str.size == 8 && !memcmp(st.via.str.ptr, "complete", 8);
    msgpack_unpacked_destroy(&up);
    tasker_bytes_free(&view);
    tasker_subscription_free(sub);
    tasker_client_free(client);
    return ok ? 0 : 1;
}
