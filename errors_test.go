package carechain

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorKinds(t *testing.T) {
	base := Errorf("did.rotate", Unauthorized, "signer %s is not the controller", "did:cc:x")
	wrapped := fmt.Errorf("apply: %w", base)
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, 0},
		{"direct", base, Unauthorized},
		{"wrapped", wrapped, Unauthorized},
		{"plain error is internal", errors.New("disk on fire"), Internal},
		{"E inherits kind", E("ledger.apply", base), Unauthorized},
		{"E explicit kind", E("store.Get", Internal, errors.New("io")), Internal},
	}
	for _, tt := range tests {
		if got := KindOf(tt.err); got != tt.want {
			t.Errorf("%s: KindOf = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestErrorTextHidesInternal(t *testing.T) {
	err := E("store.Commit", Internal, errors.New("/secret/path: permission denied"))
	if got, want := err.Error(), "store.Commit: internal"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	err = Errorf("did.create", Conflict, "DID %s exists", "did:cc:a")
	if got, want := err.Error(), "did.create: conflict: DID did:cc:a exists"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestKindCodesStable(t *testing.T) {
	// Codes are part of the protocol: pin a few so a renumbering fails loudly.
	pins := map[Kind]uint32{Other: 1, Invalid: 2, BadSignature: 7, SequenceReplay: 8, UnknownType: 10, Unauthorized: 11, Integrity: 18, Unavailable: 19}
	for k, want := range pins {
		if got := k.Code(); got != want {
			t.Errorf("%v.Code() = %d, want %d", k, got, want)
		}
		if got := KindFromCode(want); got != k {
			t.Errorf("KindFromCode(%d) = %v, want %v", want, got, k)
		}
	}
	if got := KindFromCode(9999); got != Other {
		t.Errorf("unknown code: got %v", got)
	}
}
