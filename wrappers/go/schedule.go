package tasker

/*
#include <stdlib.h>
#include "tasker.h"
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// ScheduleSpec defines a cron schedule (docs/SCHEDULING.md): a task of Template with Context
// at every tick of Cron (5 fields, or 6 with seconds first) read in the IANA TimeZone.
// Name, Template and Cron are required.
type ScheduleSpec struct {
	Name      string `msgpack:"name"`
	Namespace string `msgpack:"namespace,omitempty"`
	Template  string `msgpack:"template"`
	// Version of the template; the latest registered one at each tick when empty.
	Version string `msgpack:"version,omitempty"`
	Context any    `msgpack:"context,omitempty"`
	Cron    string `msgpack:"cron"`
	// TimeZone defaults to "UTC".
	TimeZone string `msgpack:"time_zone,omitempty"`
	// Enabled defaults to true; point it at false to store the schedule disabled.
	Enabled *bool `msgpack:"enabled,omitempty"`
	// Missed is "skip" (the default: after downtime only the latest missed tick fires) or
	// "catch_up" (up to MaxCatchUp of them, default 10).
	Missed     string  `msgpack:"missed,omitempty"`
	MaxCatchUp *uint32 `msgpack:"max_catch_up,omitempty"`
}

// Schedule is a stored schedule: its definition and where its ticks are (epoch milliseconds).
type Schedule struct {
	ScheduleID int64          `msgpack:"schedule_id"`
	Name       string         `msgpack:"name"`
	Namespace  string         `msgpack:"namespace"`
	Template   string         `msgpack:"template"`
	Version    *string        `msgpack:"version"`
	Context    map[string]any `msgpack:"context"`
	Cron       string         `msgpack:"cron"`
	TimeZone   string         `msgpack:"time_zone"`
	Enabled    bool           `msgpack:"enabled"`
	Missed     string         `msgpack:"missed"`
	MaxCatchUp uint32         `msgpack:"max_catch_up"`
	NextTickAt int64          `msgpack:"next_tick_at"`
	LastTickAt *int64         `msgpack:"last_tick_at"`
	CreatedAt  int64          `msgpack:"created_at"`
	UpdatedAt  int64          `msgpack:"updated_at"`
}

// UpsertSchedule stores spec, replacing the schedule of the same name, and returns it. A bad
// expression, time zone, name or bound is ErrInvalidRequest (the message says which); a
// template nobody registered is ErrUnknownTemplate.
func (c *Client) UpsertSchedule(spec ScheduleSpec) (*Schedule, error) {
	b, err := encode(&spec)
	if err != nil {
		return nil, fmt.Errorf("tasker: encoding schedule: %w", err)
	}
	data, err := c.bytesCall(func(p *C.tasker_client, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result {
		return C.tasker_schedule_upsert(p, bufPtr(b), C.size_t(len(b)), out, cerr)
	})
	if err != nil {
		return nil, err
	}
	var s Schedule
	if err := decode(data, &s); err != nil {
		return nil, fmt.Errorf("tasker: decoding schedule: %w", err)
	}
	return &s, nil
}

// Schedules returns every schedule, by name.
func (c *Client) Schedules() ([]Schedule, error) {
	data, err := c.bytesCall(func(p *C.tasker_client, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result {
		return C.tasker_schedule_list(p, out, cerr)
	})
	if err != nil {
		return nil, err
	}
	var list []Schedule
	if err := decode(data, &list); err != nil {
		return nil, fmt.Errorf("tasker: decoding schedules: %w", err)
	}
	return list, nil
}

// DeleteSchedule deletes a schedule and its tick history (its tasks stay); deleted is false
// when there was none.
func (c *Client) DeleteSchedule(name string) (deleted bool, err error) {
	err = c.nameCall(name, func(p *C.tasker_client, cname *C.char, out *C.bool, cerr **C.tasker_error) C.tasker_result {
		return C.tasker_schedule_delete(p, cname, out, cerr)
	}, &deleted)
	return deleted, err
}

// SetScheduleEnabled enables or disables a schedule (re-enabled: from its first tick after
// now); found is false when there is none.
func (c *Client) SetScheduleEnabled(name string, enabled bool) (found bool, err error) {
	err = c.nameCall(name, func(p *C.tasker_client, cname *C.char, out *C.bool, cerr **C.tasker_error) C.tasker_result {
		return C.tasker_schedule_set_enabled(p, cname, C.bool(enabled), out, cerr)
	}, &found)
	return found, err
}

// FireDueSchedules fires the ticks due at now, once across every process, and returns the
// tasks created. Workers do this by themselves every schedule_check_interval_ms.
func (c *Client) FireDueSchedules(now time.Time) (created uint64, err error) {
	err = c.call(func(p *C.tasker_client) error {
		var n C.uint64_t
		var cerr *C.tasker_error
		if err := check(C.tasker_schedule_fire_due(p, C.int64_t(now.UnixMilli()), &n, &cerr), cerr); err != nil {
			return err
		}
		created = uint64(n)
		return nil
	})
	return created, err
}

// nameCall runs f with name as a C string and stores its boolean out-parameter in result.
func (c *Client) nameCall(name string, f func(*C.tasker_client, *C.char, *C.bool, **C.tasker_error) C.tasker_result, result *bool) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return c.call(func(p *C.tasker_client) error {
		var out C.bool
		var cerr *C.tasker_error
		if err := check(f(p, cname, &out, &cerr), cerr); err != nil {
			return err
		}
		*result = bool(out)
		return nil
	})
}
