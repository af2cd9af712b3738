/* Built against an installed libtasker with pkg-config (make install test). */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <string.h>

#include <tasker.h>

static const uint8_t OUTPUT[] = {0x81, 0xa2, 'o', 'k', 0xc3}; /* {"ok": true} */

static void ok_handler(void *ud, tasker_step_call *call, const uint8_t *ctx, size_t len) {
    (void)ud, (void)ctx, (void)len;
    tasker_step_call_set_output(call, OUTPUT, sizeof OUTPUT, NULL);
}

int main(void) {
    const char *yaml = "name: smoke\nstep_templates:\n  - {name: only, handler: ok}\n";
    /* {"name": "smoke", "context": {}} */
    const uint8_t request[] = {0x82, 0xa4, 'n', 'a', 'm', 'e', 0xa5, 's', 'm', 'o', 'k', 'e',
                               0xa7, 'c', 'o', 'n', 't', 'e', 'x', 't', 0x80};
    tasker_error *err = NULL;
    const tasker_client *c = NULL;
    int64_t id = 0;
    bool created = false;
    tasker_bytes exec = {0};
    if (strcmp(tasker_version(), TASKER_VERSION_STRING) != 0 ||
        tasker_client_new("sqlite::memory:", NULL, 0, &c, &err) ||
        tasker_register_template_yaml(c, (const uint8_t *)yaml, strlen(yaml), &err) ||
        tasker_register_handler(c, "ok", ok_handler, NULL, NULL, NULL, &err) ||
        tasker_create_task(c, request, sizeof request, &id, &created, &err) ||
        tasker_run_task(c, id, &exec, &err)) {
        printf("install: 0 passed, 1 failed (%s)\n", tasker_error_message(err));
        tasker_error_free(err);
        return 1;
    }
    /* The execution context says "complete" somewhere in its task_state field. */
    int complete = exec.len > 8 && memmem(exec.data, exec.len, "complete", 8) != NULL;
    tasker_bytes_free(&exec);
    tasker_client_free(c);
    printf("install: %d passed, %d failed\n", complete, !complete);
    return complete ? 0 : 1;
}
