package tasker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A retry resumes from the last checkpoint of the failed attempt: no item is processed twice.
func TestCheckpointResume(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate(map[string]any{"name": "ckpt", "step_templates": []any{
		map[string]any{"name": "s", "handler": "batch", "default_retry_limit": 3}}}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	if err := c.RegisterFunc("batch", func(ctx *StepContext) (any, error) {
		items, _ := ctx.Context()["items"].([]any)
		cursor, sum := int64(0), int64(0)
		if cp, ok := ctx.LastCheckpoint.(map[string]any); ok {
			cursor, sum = cp["cursor"].(int64), cp["sum"].(int64)
		}
		var done []int64
		for i := cursor; i < int64(len(items)); i++ {
			if ctx.Attempt() == 1 && i == 2 {
				seen = append(seen, fmt.Sprint(ctx.Attempt(), ctx.LastCheckpoint, done))
				return nil, Retryable(errors.New("failed midway"), 0)
			}
			sum += items[i].(int64)
			done = append(done, i)
			if err := ctx.Checkpoint(map[string]any{"cursor": i + 1, "sum": sum}); err != nil {
				return nil, Permanent(err)
			}
		}
		seen = append(seen, fmt.Sprint(ctx.Attempt(), ctx.LastCheckpoint, done))
		return map[string]any{"sum": sum}, nil
	}); err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, c, TaskRequest{Name: "ckpt", Context: map[string]any{"items": []any{1, 2, 3, 4}}})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	want := []string{"1 <nil> [0 1]", "2 map[cursor:2 sum:3] [2 3]"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("attempts %q\nwant %q", seen, want)
	}
	s := mustView(t, c, id).Step("s")
	if fmt.Sprint(s.ResultMap()) != "map[sum:10]" || fmt.Sprint(s.Checkpoint) != "map[cursor:4 sum:10]" {
		t.Errorf("results %v, checkpoint %v", s.ResultMap(), s.Checkpoint)
	}
}

// Oversized and invalid checkpoints are refused with nothing written; outside the handler,
// Checkpoint is ErrInvalidState.
func TestCheckpointRefusals(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate(map[string]any{"name": "ckpt_limits", "step_templates": []any{
		map[string]any{"name": "s", "handler": "limits"}}}); err != nil {
		t.Fatal(err)
	}
	var saved *StepContext
	var errs []error
	if err := c.RegisterFunc("limits", func(ctx *StepContext) (any, error) {
		saved = ctx
		if err := ctx.Checkpoint(map[string]any{"cursor": 1}); err != nil {
			return nil, Permanent(err)
		}
		errs = append(errs, ctx.Checkpoint(strings.Repeat("x", 64*1024)))
		errs = append(errs, ctx.Checkpoint(map[string]any{"k": "nul\x00"}))
		return map[string]any{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, c, TaskRequest{Name: "ckpt_limits"})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 || !errors.Is(errs[0], ErrPayloadTooLarge) || !errors.Is(errs[1], ErrInvalidArgument) {
		t.Errorf("refusals: %v", errs)
	}
	if cp := mustView(t, c, id).Step("s").Checkpoint; fmt.Sprint(cp) != "map[cursor:1]" {
		t.Errorf("checkpoint %v", cp)
	}
	if err := saved.Checkpoint(map[string]any{"cursor": 2}); !errors.Is(err, ErrInvalidState) {
		t.Errorf("checkpoint after return: %v", err)
	}
}
