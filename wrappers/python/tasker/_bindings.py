"""ctypes declarations for libtasker, generated from include/tasker.h by tools/gen_bindings.py.

Do not edit: run `python3 tools/gen_bindings.py` after the header changes
(tests/test_bindings.py fails when this file is stale)."""
# fmt: off
from __future__ import annotations

import ctypes
from typing import Any

# TASKER_VERSION_STRING of the header these declarations come from
HEADER_VERSION = "0.1.0"

# enum tasker_result
RESULT_CODES: dict[str, int] = {
    "OK": 0,
    "NULL_PARAMETER": 1,
    "INVALID_ARGUMENT": 2,
    "INVALID_TEMPLATE": 3,
    "TEMPLATE_CYCLE": 4,
    "UNKNOWN_TEMPLATE": 5,
    "INVALID_REQUEST": 6,
    "SCHEMA_VALIDATION": 7,
    "PAYLOAD_TOO_LARGE": 8,
    "DUPLICATE_TASK": 9,
    "TASK_NOT_FOUND": 10,
    "STEP_NOT_FOUND": 11,
    "ILLEGAL_TRANSITION": 12,
    "STALE_CLAIM": 13,
    "CONFIG": 14,
    "DATABASE": 15,
    "PANIC": 16,
    "INTERNAL": 17,
    "INVALID_STATE": 18,
    "INTERRUPTED": 19,
}

class TaskerBytes(ctypes.Structure):
    """struct tasker_bytes"""
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("len", ctypes.c_size_t),
        ("cap", ctypes.c_size_t),
    ]


# void (*tasker_process_fn)(void * userdata, struct tasker_step_call * call, const uint8_t * context, size_t context_len)
tasker_process_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
# void (*tasker_process_results_fn)(void * userdata, struct tasker_step_call * call, const uint8_t * context, size_t context_len, const uint8_t * output, size_t output_len)
tasker_process_results_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t)
# void (*tasker_userdata_free_fn)(void * userdata)
tasker_userdata_free_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
# int32_t (*tasker_enqueue_fn)(void * userdata, int64_t id, uint64_t delay_ms)
tasker_enqueue_fn = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64)
# void (*tasker_event_fn)(void * userdata, const uint8_t * event, size_t event_len)
tasker_event_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)

# name -> (restype, argtypes), one entry per function of the header, in header order
FUNCTIONS: dict[str, tuple[Any, list[Any]]] = {
    "tasker_error_code": (ctypes.c_uint32, [ctypes.c_void_p]),
    "tasker_error_message": (ctypes.c_char_p, [ctypes.c_void_p]),
    "tasker_error_free": (None, [ctypes.c_void_p]),
    "tasker_result_name": (ctypes.c_char_p, [ctypes.c_uint32]),
    "tasker_bytes_free": (None, [ctypes.POINTER(TaskerBytes)]),
    "tasker_version": (ctypes.c_char_p, []),
    "tasker_init_logging": (None, []),
    "tasker_client_new": (ctypes.c_uint32, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_client_free": (None, [ctypes.c_void_p]),
    "tasker_client_interrupt": (None, [ctypes.c_void_p]),
    "tasker_client_close": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_migrate": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_register_template_yaml": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_register_template_file": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_register_template_msgpack": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_register_handler": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, tasker_process_fn, tasker_process_results_fn, ctypes.c_void_p, tasker_userdata_free_fn, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_unregister_handler": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_create_task": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_run_task": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_call_handler": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_worker_new": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_worker_run_once": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_worker_run": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_worker_stop": (None, [ctypes.c_void_p]),
    "tasker_worker_reset": (None, [ctypes.c_void_p]),
    "tasker_worker_free": (None, [ctypes.c_void_p]),
    "tasker_set_queue_injector": (ctypes.c_uint32, [ctypes.c_void_p, tasker_enqueue_fn, tasker_enqueue_fn, ctypes.c_void_p, tasker_userdata_free_fn, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_handle_step": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_handle_task": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_subscribe": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, tasker_event_fn, ctypes.c_void_p, tasker_userdata_free_fn, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_subscription_free": (None, [ctypes.c_void_p]),
    "tasker_task_view": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_execution_context": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_health": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_wait_task": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_list_tasks": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_list_steps": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_cancel_task": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_resolve_step": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_retry_step": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_set_output": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_fail": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_bool, ctypes.c_double, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_heartbeat": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_is_cancelled": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_step_id": (ctypes.c_int64, [ctypes.c_void_p]),
    "tasker_step_call_task_id": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_step_name": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_attempt": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_retry_limit": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_is_last_attempt": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_context_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_task_context_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_inputs_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_dependency_result_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_checkpoint": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_checkpoint_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_last_checkpoint_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_create_task_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_set_output_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_step_call_fail_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_bool, ctypes.c_double, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_task_view_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_execution_context_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_wait_task_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_list_tasks_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_list_steps_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_health_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_document_json": (ctypes.c_uint32, [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_json_get": (ctypes.c_uint32, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_json_get_string": (ctypes.c_uint32, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_json_get_i64": (ctypes.c_uint32, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_dashboard_start": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_dashboard_address": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_dashboard_stop": (None, [ctypes.c_void_p]),
    "tasker_metrics": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_metrics_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_metrics_text": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_schedule_upsert": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_schedule_delete": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_schedule_set_enabled": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_bool, ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_schedule_list": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_schedule_fire_due": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_enforce_deadlines": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_apply_retention": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_purge_tasks": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
    "tasker_purge_tasks_json": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(TaskerBytes), ctypes.POINTER(ctypes.c_void_p)]),
}


def bind(lib: ctypes.CDLL) -> None:
    """Declares restype and argtypes of every function on `lib`."""
    for name, (restype, argtypes) in FUNCTIONS.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
