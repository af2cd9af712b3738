package tasker

/*
// The header, the library and its runtime path come from tasker.pc: an installed libtasker
// (make install PREFIX=...; PKG_CONFIG_PATH=PREFIX/lib/pkgconfig unless PREFIX is a system one)
// or the checkout's staged build (env.sh points PKG_CONFIG_PATH at its pkgconfig directory).
#cgo pkg-config: tasker
#include <stdlib.h>
#include "tasker.h"
#include "shims.h"
*/
import "C"

import (
	"unsafe"
)

// Version returns the version of the loaded libtasker library (e.g. "0.1.0").
func Version() string { return C.GoString(C.tasker_version()) }

// HeaderVersion is the version of tasker.h this package was compiled against.
const HeaderVersion = C.TASKER_VERSION_STRING

// InitLogging installs libtasker's stderr logger, filtered by the TASKER_LOG environment
// variable (default "warn"). Calling it again does nothing.
func InitLogging() { C.tasker_init_logging() }

// check turns a tasker_result and its error object into a Go error (nil on success) and frees
// the error object.
func check(rc C.tasker_result, cerr *C.tasker_error) error {
	maybeGC()
	if rc == C.TASKER_RESULT_OK {
		if cerr != nil {
			C.tasker_error_free(cerr)
		}
		return nil
	}
	e := &Error{Code: Code(rc), Name: C.GoString(C.tasker_result_name(rc))}
	if cerr != nil {
		e.Message = C.GoString(C.tasker_error_message(cerr))
		C.tasker_error_free(cerr)
	}
	return e
}

// takeBytes copies a tasker_bytes buffer into Go memory and frees it.
func takeBytes(b *C.tasker_bytes) []byte {
	if b.data == nil {
		return nil
	}
	out := C.GoBytes(unsafe.Pointer(b.data), C.int(b.len))
	C.tasker_bytes_free(b)
	return out
}

// bufPtr returns a pointer to the first byte of p (borrowed by C for the call) or nil.
func bufPtr(p []byte) *C.uint8_t {
	if len(p) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&p[0]))
}

// cBytes views a C buffer borrowed for a callback as a Go copy.
func cBytes(p *C.uint8_t, n C.size_t) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(p), C.int(n))
}
