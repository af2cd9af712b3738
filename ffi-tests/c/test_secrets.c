/* A sentinel password in a database URL never appears in any output of libtasker: this program
 * runs every error path that sees a URL (unsupported schemes, a refused connection, a live
 * PostgreSQL when TASKER_C_TEST_DATABASE_URL is set, calls on a connected client) with the
 * library's logging on, printing every error message. scripts/check-secrets.sh runs it with
 * TASKER_LOG=trace and searches its whole output (stdout and stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasker.h"

#define SENTINEL "S3NT1NEL-pw"

static int g_errors_seen = 0;

static void show(const char *what, tasker_result rc, tasker_error *err) {
    printf("%s: %s: %s\n", what, tasker_result_name(rc), err ? tasker_error_message(err) : "(none)");
    if (rc != TASKER_RESULT_OK) g_errors_seen++;
    tasker_error_free(err);
}

static void exercise(const char *url) {
    const tasker_client *c = NULL;
    tasker_error *err = NULL;
    tasker_result rc = tasker_client_new(url, NULL, 0, &c, &err);
    show("open", rc, err);
    if (rc != TASKER_RESULT_OK) return;
    tasker_bytes out = {0};
    /* (one call per statement: the order of evaluating arguments is unspecified in C) */
    err = NULL;
    rc = tasker_task_view(c, 987654321, &out, &err);
    show("view", rc, err);
    const char *bad = "name: [unclosed";
    err = NULL;
    rc = tasker_register_template_yaml(c, (const uint8_t *)bad, strlen(bad), &err);
    show("template", rc, err);
    const char *req = "{\"name\": \"no_such_template\"}";
    int64_t id = 0;
    bool created = false;
    err = NULL;
    rc = tasker_create_task_json(c, req, strlen(req), &id, &created, &err);
    show("create", rc, err);
    tasker_client_free(c);
}

int main(void) {
    tasker_init_logging();
    const char *urls[] = {
        "Postgres://u:" SENTINEL "@127.0.0.1:1/db",
        " postgres://u:" SENTINEL "@127.0.0.1:1/db",
        "mysql://u:" SENTINEL "@127.0.0.1:1/db",
        "postgres://u:" SENTINEL "@127.0.0.1:1/db?connect_timeout=1",
        "postgres://u@127.0.0.1:1/db?password=" SENTINEL,
        "sqlite::memory:",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) exercise(urls[i]);
    /* A live server (trust authentication: the password is accepted and unused). */
    const char *pg = getenv("TASKER_C_TEST_DATABASE_URL");
    if (pg && strncmp(pg, "postgres://", 11) == 0) {
        const char *at = strchr(pg + 11, '@');
        const char *user_end = at ? at : NULL;
        if (user_end) {
            char url[1024];
            snprintf(url, sizeof url, "postgres://%.*s:%s%s", (int)(user_end - (pg + 11)), pg + 11, SENTINEL, at);
            exercise(url);
        }
    }
    printf("errors seen: %d\n", g_errors_seen);
    return g_errors_seen >= 8 ? 0 : 1;
}
