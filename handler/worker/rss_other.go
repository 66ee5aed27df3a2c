//go:build unix && !linux

package worker

import "errors"

// residentBytes is not known here: MaxRSS recycles nothing.
func residentBytes(int) (int64, error) {
	return 0, errors.ErrUnsupported
}
