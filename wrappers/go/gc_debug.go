//go:build debug

package tasker

import "runtime"

// maybeGC forces a collection at every crossing of the C boundary when built with
// `-tags debug`, so that a Go pointer wrongly kept by C, or a missing KeepAlive, shows up.
func maybeGC() { runtime.GC() }
