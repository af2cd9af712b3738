package tasker

import (
	"errors"
	"strings"
	"testing"
)

// A step template's concurrency limit is part of the template document: registered through the
// wrapper, enforced by the engine, and refused with the engine's message when invalid
// (docs/FLOW_CONTROL.md).
func TestConcurrencyLimitIsPartOfTheTemplate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		handler := s.ns + "_call"
		limited := func(limit int) map[string]any {
			return map[string]any{"name": "limited", "namespace_name": s.ns, "version": "1.0.0",
				"step_templates": []any{map[string]any{"name": "only", "handler": handler,
					"concurrency": map[string]any{"limit": limit, "key": "/customer"}}}}
		}
		err := s.c.LoadTemplateMap(limited(0))
		if !errors.Is(err, ErrInvalidTemplate) || !strings.Contains(err.Error(), "concurrency.limit must be within 1..=100000") {
			t.Fatalf("limit 0: %v", err)
		}
		if err := s.c.LoadTemplateMap(limited(2)); err != nil {
			t.Fatal(err)
		}
		if err := s.c.RegisterFunc(handler, func(ctx *StepContext) (any, error) { return map[string]any{}, nil }); err != nil {
			t.Fatal(err)
		}
		id := s.create(TaskRequest{Name: "limited", Context: map[string]any{"customer": "c-1"}})
		ec, err := s.c.RunTask(id)
		if err != nil {
			t.Fatal(err)
		}
		if ec.TaskState != "complete" {
			t.Fatalf("task state %q", ec.TaskState)
		}
	})
}
