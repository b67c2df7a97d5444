package ledger

import (
	"context"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/ledger/store"
)

// TestCheckStateVersion: a fresh store and a chain started by this App
// pass; a state written under another version (or none, version 1's) is
// refused with FailedPrecondition naming both versions, and an entry that
// is not a version is Integrity.
func TestCheckStateVersion(t *testing.T) {
	app := MustApp(t, newTestKeys(1))
	if got, _ := app.Store().Committed().Get(keyAppVersion); string(got) != "2" || Version != 2 {
		t.Fatalf("%s = %q after genesis, want %q", keyAppVersion, got, "2")
	}
	if err := CheckStateVersion(app.Store()); err != nil {
		t.Errorf("CheckStateVersion(this App's chain) = %v", err)
	}
	info, err := app.Info(context.Background(), &abci.InfoRequest{})
	if err != nil || info.AppVersion != Version {
		t.Errorf("Info AppVersion %d, %v; want %d", info.GetAppVersion(), err, Version)
	}

	tests := []struct {
		name    string
		version string // "" writes no entry
		want    cc.Kind
		text    string
	}{
		{"fresh", "-", 0, ""},
		{"version 1 (no entry)", "", cc.FailedPrecondition, "version 1 and this carechain runs version 2"},
		{"a later version", "3", cc.FailedPrecondition, "version 3 and this carechain runs version 2"},
		{"not a number", "two", cc.Integrity, `"two" is not a version`},
		{"zero", "0", cc.Integrity, "is not a version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := store.OpenInMemory()
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if tt.version != "-" {
				st.Working().Set(keyChainID, []byte(testChain))
				if tt.version != "" {
					st.Working().Set(keyAppVersion, []byte(tt.version))
				}
				if _, err := st.FinalizeBlock(1); err != nil {
					t.Fatal(err)
				}
				if err := st.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			err = CheckStateVersion(st)
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("CheckStateVersion = %v, want nil", err)
				}
				return
			}
			cctest.WantKind(t, err, tt.want)
			if err != nil && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
		})
	}
}
