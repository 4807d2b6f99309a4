//go:build linux

package camera

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPU is the CPU time the calling OS thread has used (the caller
// locks its goroutine to the thread). Decode times taken this way do not
// grow when other processes share the cores, as wall-clock times do.
// CLOCK_THREAD_CPUTIME_ID counts in nanoseconds; getrusage(RUSAGE_THREAD)
// counts whole scheduler ticks (4 ms here), too coarse for one frame.
func threadCPU() (time.Duration, bool) {
	const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID, linux/time.h
	var ts syscall.Timespec
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
