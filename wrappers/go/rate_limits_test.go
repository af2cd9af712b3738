package tasker

import (
	"errors"
	"strings"
	"testing"
)

// A step template's rate limit is part of the template document: registered through the
// wrapper, applied by the engine, and refused with the engine's message when invalid
// (docs/FLOW_CONTROL.md).
func TestRateLimitIsPartOfTheTemplate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		handler := s.ns + "_rated"
		rated := func(perMs int) map[string]any {
			return map[string]any{"name": "rated", "namespace_name": s.ns, "version": "1.0.0",
				"step_templates": []any{map[string]any{"name": "only", "handler": handler,
					"rate_limit": map[string]any{"limit": 5, "per_ms": perMs, "key": "/customer"}}}}
		}
		err := s.c.LoadTemplateMap(rated(0))
		if !errors.Is(err, ErrInvalidTemplate) || !strings.Contains(err.Error(), "rate_limit.per_ms must be within") {
			t.Fatalf("per_ms 0: %v", err)
		}
		if err := s.c.LoadTemplateMap(rated(1000)); err != nil {
			t.Fatal(err)
		}
		if err := s.c.RegisterFunc(handler, func(ctx *StepContext) (any, error) { return map[string]any{}, nil }); err != nil {
			t.Fatal(err)
		}
		id := s.create(TaskRequest{Name: "rated", Context: map[string]any{"customer": "c-1"}})
		ec, err := s.c.RunTask(id)
		if err != nil {
			t.Fatal(err)
		}
		if ec.TaskState != "complete" {
			t.Fatalf("task state %q", ec.TaskState)
		}
	})
}
