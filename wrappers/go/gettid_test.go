package tasker

import "syscall"

func gettid() int { return syscall.Gettid() }
