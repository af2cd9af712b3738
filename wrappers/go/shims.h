/* C glue between libtasker's callbacks and the //export'ed Go trampolines (see shims.c). */
#ifndef TASKER_GO_SHIMS_H
#define TASKER_GO_SHIMS_H
#include <stdint.h>
#include "tasker.h"

tasker_result tasker_go_register_handler(const tasker_client *client, const char *name, int with_results,
                                         uintptr_t handle, tasker_error **error);
tasker_result tasker_go_set_queue_injector(const tasker_client *client, uintptr_t handle, tasker_error **error);
tasker_result tasker_go_subscribe(const tasker_client *client, const char *patterns, uintptr_t handle,
                                  tasker_subscription **out, tasker_error **error);
#endif
