package tasker

/*
#include "tasker.h"
*/
import "C"

import (
	"fmt"
	"runtime"
)

// PurgeRequest selects the tasks PurgeTasks deletes: complete and cancelled tasks finished
// before FinishedBefore (epoch milliseconds), of Template when set.
type PurgeRequest struct {
	FinishedBefore int64 `msgpack:"finished_before"`
	// DryRun counts what would be deleted; deletes nothing.
	DryRun bool `msgpack:"dry_run"`
	// BatchSize is the tasks per transaction (1 to 10,000; nil: 500).
	BatchSize *uint32        `msgpack:"batch_size,omitempty"`
	Template  *PurgeTemplate `msgpack:"template,omitempty"`
}

// PurgeTemplate limits a purge to one template's tasks: Name, in Namespace and of Version
// when they are not empty (empty: any).
type PurgeTemplate struct {
	Name      string `msgpack:"name"`
	Namespace string `msgpack:"namespace,omitempty"`
	Version   string `msgpack:"version,omitempty"`
}

// PurgeReport is what PurgeTasks deleted (with DryRun, would delete); Batches counts the
// transactions (dry run: reads) it took.
type PurgeReport struct {
	DryRun  bool   `msgpack:"dry_run"`
	Tasks   uint64 `msgpack:"tasks"`
	Steps   uint64 `msgpack:"steps"`
	Batches uint64 `msgpack:"batches"`
}

// EnforceDeadlines fails the unfinished tasks past their deadline (at most 100 per call,
// oldest first): each ends in state error (class Deadline) with its unfinished steps
// cancelled. Workers do this every lease_check_interval_ms; call it from a process without
// workers. Returns the tasks failed.
func (c *Client) EnforceDeadlines() (failed uint64, err error) {
	return c.countCall(func(p *C.tasker_client, n *C.uint64_t, cerr **C.tasker_error) C.tasker_result {
		return C.tasker_enforce_deadlines(p, n, cerr)
	})
}

// ApplyRetention runs one pass of the client's retention option (none: nothing) over the
// next window of task ids. Workers do this every retention interval_ms; call it from a
// process without workers. Returns the tasks purged.
func (c *Client) ApplyRetention() (purged uint64, err error) {
	return c.countCall(func(p *C.tasker_client, n *C.uint64_t, cerr **C.tasker_error) C.tasker_result {
		return C.tasker_apply_retention(p, n, cerr)
	})
}

// PurgeTasks deletes the complete and cancelled tasks the request selects, with their steps
// and history, in batches that each commit on their own. Interrupt ends it between batches.
func (c *Client) PurgeTasks(req PurgeRequest) (*PurgeReport, error) {
	b, err := encode(&req)
	if err != nil {
		return nil, fmt.Errorf("tasker: encoding purge request: %w", err)
	}
	data, err := c.bytesCall(func(p *C.tasker_client, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result {
		rc := C.tasker_purge_tasks(p, bufPtr(b), C.size_t(len(b)), out, cerr)
		runtime.KeepAlive(b)
		return rc
	})
	if err != nil {
		return nil, err
	}
	var r PurgeReport
	if err := decode(data, &r); err != nil {
		return nil, fmt.Errorf("tasker: decoding purge report: %w", err)
	}
	return &r, nil
}

// countCall runs f, which writes one count, and returns the count.
func (c *Client) countCall(f func(*C.tasker_client, *C.uint64_t, **C.tasker_error) C.tasker_result) (n uint64, err error) {
	err = c.call(func(p *C.tasker_client) error {
		var out C.uint64_t
		var cerr *C.tasker_error
		if err := check(f(p, &out, &cerr), cerr); err != nil {
			return err
		}
		n = uint64(out)
		return nil
	})
	return n, err
}
