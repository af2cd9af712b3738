/* C glue: libtasker calls these with the cgo.Handle (an integer, never a Go pointer) as
 * userdata; they forward to the //export'ed Go trampolines in callbacks.go. */
#include "shims.h"
#include "_cgo_export.h"

static void process_tramp(void *ud, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    goTaskerProcess((uintptr_t)ud, call, (uint8_t *)ctx, len);
}

static void process_results_tramp(void *ud, tasker_step_call *call, const uint8_t *ctx, size_t len,
                                  const uint8_t *out, size_t out_len) {
    goTaskerProcessResults((uintptr_t)ud, call, (uint8_t *)ctx, len, (uint8_t *)out, out_len);
}

static void free_tramp(void *ud) { goTaskerFreeHandle((uintptr_t)ud); }

static int32_t enqueue_task_tramp(void *ud, int64_t id, uint64_t delay_ms) {
    return goTaskerEnqueue((uintptr_t)ud, 0, id, delay_ms);
}

static int32_t enqueue_step_tramp(void *ud, int64_t id, uint64_t delay_ms) {
    return goTaskerEnqueue((uintptr_t)ud, 1, id, delay_ms);
}

static void event_tramp(void *ud, const uint8_t *ev, size_t len) { goTaskerEvent((uintptr_t)ud, (uint8_t *)ev, len); }

tasker_result tasker_go_register_handler(const tasker_client *client, const char *name, int with_results,
                                         uintptr_t handle, tasker_error **error) {
    return tasker_register_handler(client, name, process_tramp, with_results ? process_results_tramp : NULL,
                                   (void *)handle, free_tramp, error);
}

tasker_result tasker_go_set_queue_injector(const tasker_client *client, uintptr_t handle, tasker_error **error) {
    if (handle == 0) return tasker_set_queue_injector(client, NULL, NULL, NULL, NULL, error);
    return tasker_set_queue_injector(client, enqueue_task_tramp, enqueue_step_tramp, (void *)handle, free_tramp,
                                     error);
}

tasker_result tasker_go_subscribe(const tasker_client *client, const char *patterns, uintptr_t handle,
                                  tasker_subscription **out, tasker_error **error) {
    return tasker_subscribe(client, patterns, event_tramp, (void *)handle, free_tramp, out, error);
}
