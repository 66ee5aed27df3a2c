package subprocess

import (
	"testing"
	"unsafe"
)

// TestJobLimitLayout: the struct matches the C layout of
// JOBOBJECT_EXTENDED_LIMIT_INFORMATION, where the basic part is padded to a
// multiple of 8 bytes on 32-bit Windows too.
func TestJobLimitLayout(t *testing.T) {
	var info jobObjectExtendedLimitInformation
	ptr := unsafe.Sizeof(uintptr(0))
	wantIo, wantSize := uintptr(64), uintptr(144)
	if ptr == 4 {
		wantIo, wantSize = 48, 112
	}
	if off := unsafe.Offsetof(info.IoInfo); off != wantIo {
		t.Errorf("offset of IoInfo = %d, want %d", off, wantIo)
	}
	if size := unsafe.Sizeof(info); size != wantSize {
		t.Errorf("size = %d, want %d", size, wantSize)
	}
}

// TestThreadEntryLayout: the struct matches THREADENTRY32.
func TestThreadEntryLayout(t *testing.T) {
	if size := unsafe.Sizeof(threadEntry32{}); size != 28 {
		t.Errorf("size = %d, want 28", size)
	}
}
