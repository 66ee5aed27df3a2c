package worker

import (
	"bytes"
	"errors"
	"os"
	"strconv"
)

// residentBytes returns the resident memory of process pid, from the
// second field of /proc/PID/statm, counted in pages.
func residentBytes(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, errors.New("worker: /proc statm: too few fields")
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}
