package tasker

/*
#include <stdlib.h>
#include "tasker.h"
#include "shims.h"
*/
import "C"

import (
	"strings"
	"sync"
	"unsafe"
)

// Subscription delivers lifecycle events to a function until it is closed.
type Subscription struct {
	c   *core
	mu  sync.Mutex
	ptr *C.tasker_subscription
}

// Subscribe calls fn for every event whose name matches one of patterns (exact names or
// prefixes ending in '*', e.g. "step.*"; none: every event). Events arrive after commit, on
// the goroutine whose call caused them (so fn may run on several goroutines at once). A panic
// in fn is recovered and logged; it never affects orchestration.
func (c *Client) Subscribe(patterns []string, fn func(Event)) (*Subscription, error) {
	if fn == nil {
		return nil, &Error{Code: CodeNullParameter, Name: CodeNullParameter.String(), Message: "nil event function"}
	}
	cpat := C.CString(strings.Join(patterns, ","))
	defer C.free(unsafe.Pointer(cpat))
	hd := newHandle(fn)
	var out *C.tasker_subscription
	err := c.call(func(p *C.tasker_client) error {
		var cerr *C.tasker_error
		return check(C.tasker_go_subscribe(p, cpat, C.uintptr_t(hd), &out, &cerr), cerr)
	})
	if err != nil {
		deleteHandle(hd)
		return nil, err
	}
	s := &Subscription{c: c.core, ptr: out}
	c.mu.Lock()
	if c.closed { // Close ran meanwhile and did not see this subscription
		c.mu.Unlock()
		C.tasker_subscription_free(out)
		return nil, ErrClosed
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	return s, nil
}

// Close unsubscribes. Calling it again does nothing. Do not call it from inside fn.
func (s *Subscription) Close() {
	s.mu.Lock()
	p := s.ptr
	s.ptr = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	C.tasker_subscription_free(p)
	s.c.mu.Lock()
	delete(s.c.subs, s)
	s.c.mu.Unlock()
}
