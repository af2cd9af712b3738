package tasker

/*
#include <stdlib.h>
#include "tasker.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// TaskWait is what WaitTask returns: whether the timeout ended the wait (the task then neither
// finished nor blocked) and the task's view as it then was.
type TaskWait struct {
	TimedOut bool     `msgpack:"timed_out"`
	Task     TaskView `msgpack:"task"`
}

// TaskFilter selects tasks for ListTasks and EachTask: a task matches every field set (the
// zero value matches every task). States matches any of them, Tags all of them. Times are
// epoch milliseconds (From inclusive, To exclusive; 0: not set). Limit is the page size, 1 to
// 1000 (0: the default, 50). Cursor is the NextCursor of the previous page ("": the first).
type TaskFilter struct {
	States          []string `msgpack:"states,omitempty"`
	ExecutionStatus string   `msgpack:"execution_status,omitempty"`
	Namespace       string   `msgpack:"namespace,omitempty"`
	Name            string   `msgpack:"name,omitempty"`
	Version         string   `msgpack:"version,omitempty"`
	Initiator       string   `msgpack:"initiator,omitempty"`
	SourceSystem    string   `msgpack:"source_system,omitempty"`
	Tags            []string `msgpack:"tags,omitempty"`
	CreatedFrom     int64    `msgpack:"created_from,omitempty"`
	CreatedTo       int64    `msgpack:"created_to,omitempty"`
	UpdatedFrom     int64    `msgpack:"updated_from,omitempty"`
	UpdatedTo       int64    `msgpack:"updated_to,omitempty"`
	Cursor          string   `msgpack:"cursor,omitempty"`
	Limit           int      `msgpack:"limit,omitempty"`
}

// StepFilter selects steps for ListSteps and EachStep, as TaskFilter does tasks. Condition is
// "in_backoff" (error, retry scheduled later), "exhausted" (error, no retry left),
// "lease_expired" or "lease_active" (in progress).
type StepFilter struct {
	TaskID    int64    `msgpack:"task_id,omitempty"`
	States    []string `msgpack:"states,omitempty"`
	Condition string   `msgpack:"condition,omitempty"`
	Handler   string   `msgpack:"handler,omitempty"`
	Cursor    string   `msgpack:"cursor,omitempty"`
	Limit     int      `msgpack:"limit,omitempty"`
}

// TaskSummary is one task of a ListTasks page (times in epoch milliseconds).
type TaskSummary struct {
	TaskID       int64            `msgpack:"task_id"`
	Namespace    string           `msgpack:"namespace"`
	Name         string           `msgpack:"name"`
	Version      string           `msgpack:"version"`
	State        string           `msgpack:"state"`
	Initiator    string           `msgpack:"initiator"`
	SourceSystem string           `msgpack:"source_system"`
	Tags         []string         `msgpack:"tags"`
	CreatedAt    int64            `msgpack:"created_at"`
	UpdatedAt    int64            `msgpack:"updated_at"`
	Execution    ExecutionContext `msgpack:"execution"`
}

// StepSummary is one step of a ListSteps page (times in epoch milliseconds).
type StepSummary struct {
	StepID          int64  `msgpack:"step_id"`
	TaskID          int64  `msgpack:"task_id"`
	Name            string `msgpack:"name"`
	Handler         string `msgpack:"handler"`
	State           string `msgpack:"state"`
	Attempts        int    `msgpack:"attempts"`
	RetryLimit      int    `msgpack:"retry_limit"`
	NextAttemptAt   *int64 `msgpack:"next_attempt_at"`
	LeaseExpiresAt  *int64 `msgpack:"lease_expires_at"`
	LastAttemptedAt *int64 `msgpack:"last_attempted_at"`
	CreatedAt       int64  `msgpack:"created_at"`
	UpdatedAt       int64  `msgpack:"updated_at"`
}

// Page is one page of a listing, newest first. NextCursor is set when more items may follow:
// pass it as the filter's Cursor for the next page; "" marks the last page.
type Page[T any] struct {
	Items      []T    `msgpack:"items"`
	NextCursor string `msgpack:"next_cursor"`
}

// TaskPage is a page of ListTasks.
type TaskPage = Page[TaskSummary]

// StepPage is a page of ListSteps.
type StepPage = Page[StepSummary]

// WaitTask blocks until the task is settled: finished (complete, cancelled, resolved_manually)
// or blocked (state error, or execution status blocked_by_failures), at most timeout (rounded
// up to whole milliseconds; 0 looks once). A timeout is not an error: the result has TimedOut
// set and the view as it then is. It is woken by commits through this client and, on
// PostgreSQL, by other processes' commits (NOTIFY); otherwise by polling every poll interval.
// When ctx is done the wait is interrupted as by Interrupt, and the error matches both
// ErrInterrupted and ctx.Err() with errors.Is. Other errors: ErrTaskNotFound, ErrDatabase.
func (c *Client) WaitTask(ctx context.Context, taskID int64, timeout time.Duration) (*TaskWait, error) {
	if timeout < 0 {
		return nil, fmt.Errorf("tasker: WaitTask: negative timeout %v", timeout)
	}
	ms := C.uint64_t((timeout + time.Millisecond - 1) / time.Millisecond)
	var w TaskWait
	err := c.interruptOnDone(ctx, func() error {
		data, err := c.bytesCall(func(p *C.tasker_client, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result {
			return C.tasker_wait_task(p, C.int64_t(taskID), ms, out, cerr)
		})
		if err != nil {
			return err
		}
		return decode(data, &w)
	})
	if err != nil {
		return nil, err
	}
	w.Task.normalize()
	return &w, nil
}

// interruptOnDone runs call, interrupting the client's blocking calls if ctx is done before it
// returns; an interrupted call's error then also matches ctx.Err().
func (c *Client) interruptOnDone(ctx context.Context, call func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			c.Interrupt()
		case <-finished:
		}
	}()
	err := call()
	if err != nil && errors.Is(err, ErrInterrupted) && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return err
}

// ListTasks returns one page of the tasks matching filter, newest first. Tasks created while
// a listing is paged never shift or repeat a later page. A bad filter (an unknown state, Limit
// above 1000, a cursor this library did not return) fails with ErrInvalidArgument.
func (c *Client) ListTasks(filter TaskFilter) (*TaskPage, error) {
	var page TaskPage
	if err := c.list(&filter, &page, listTasks); err != nil {
		return nil, err
	}
	return &page, nil
}

// ListSteps returns one page of the steps matching filter, newest first, paged as ListTasks.
func (c *Client) ListSteps(filter StepFilter) (*StepPage, error) {
	var page StepPage
	if err := c.list(&filter, &page, listSteps); err != nil {
		return nil, err
	}
	return &page, nil
}

// EachTask calls fn with every task matching filter (Limit is the page size), page after
// page, newest first. It stops at the first error, from the listing or from fn, and returns it.
func (c *Client) EachTask(filter TaskFilter, fn func(*TaskSummary) error) error {
	return eachItem(func(cursor string) (*TaskPage, error) {
		filter.Cursor = cursor
		return c.ListTasks(filter)
	}, filter.Cursor, fn)
}

// EachStep calls fn with every step matching filter, page after page, as EachTask does.
func (c *Client) EachStep(filter StepFilter, fn func(*StepSummary) error) error {
	return eachItem(func(cursor string) (*StepPage, error) {
		filter.Cursor = cursor
		return c.ListSteps(filter)
	}, filter.Cursor, fn)
}

// eachItem calls fn with each item of the page at cursor and of every page after it.
func eachItem[T any](list func(cursor string) (*Page[T], error), cursor string, fn func(*T) error) error {
	for {
		page, err := list(cursor)
		if err != nil {
			return err
		}
		for i := range page.Items {
			if err := fn(&page.Items[i]); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

type listFn func(p *C.tasker_client, filter []byte, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result

func listTasks(p *C.tasker_client, filter []byte, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result {
	return C.tasker_list_tasks(p, bufPtr(filter), C.size_t(len(filter)), out, cerr)
}

func listSteps(p *C.tasker_client, filter []byte, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result {
	return C.tasker_list_steps(p, bufPtr(filter), C.size_t(len(filter)), out, cerr)
}

// list encodes filter, calls fn and decodes its page into page.
func (c *Client) list(filter, page any, fn listFn) error {
	b, err := encode(filter)
	if err != nil {
		return fmt.Errorf("tasker: encoding filter: %w", err)
	}
	data, err := c.bytesCall(func(p *C.tasker_client, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result {
		rc := fn(p, b, out, cerr)
		runtime.KeepAlive(b)
		return rc
	})
	if err != nil {
		return err
	}
	if err := decode(data, page); err != nil {
		return fmt.Errorf("tasker: decoding page: %w", err)
	}
	return nil
}
