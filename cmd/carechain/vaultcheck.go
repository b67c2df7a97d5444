package main

import (
	"fmt"
	"os"
	"sort"

	cc "carechain"
	"carechain/chain"
	"carechain/ledger/store"
	"carechain/records"
)

// vaultReport is what `carechain verify` finds in a node's record vault.
type vaultReport struct {
	Custodians []string `json:"custodians"`
	Versions   int      `json:"versions"` // anchored versions held here, checked
	Problems   []string `json:"problems,omitempty"`
}

// OK reports whether the vault and the anchors agree.
func (r *vaultReport) OK() bool { return len(r.Problems) == 0 }

// verifyVault checks a stopped node's vault against its committed
// anchors: every blob decrypts and matches its anchored (salted) content
// hash, every blob has an anchor, every anchored version of a record held
// by one of this node's custodian organizations has its blob (unless the
// record was erased), and erased records have no data left. A home without
// custodians has nothing to check (nil report).
func verifyVault(home string) (*vaultReport, error) {
	files, _, err := loadNodeKeys(home)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	if _, err := os.Stat(vaultDir(home)); err != nil {
		return nil, nil // no record was ever stored here
	}
	rep := &vaultReport{}
	held := map[string]bool{}
	for _, f := range files {
		held[f.Org] = true
		rep.Custodians = append(rep.Custodians, f.Org)
	}
	sort.Strings(rep.Custodians)
	st, err := store.Open(chain.StateDir(home))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	state := st.Committed()
	v, err := openVault(home)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	type version struct {
		id  string
		ver int
	}
	stored := map[version]bool{}
	anchorHash := func(id string, ver int) ([]byte, bool) {
		stored[version{id, ver}] = true
		a, err := records.GetVersion(state, id, ver)
		if err != nil {
			return nil, false
		}
		if a.Erased {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s was erased at height %d but version %d is still in the vault", id, a.ErasedAt, ver))
		}
		return a.ContentHash, true
	}
	report := func(id string, ver int, err error) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s version %d: %s", id, ver, cc.KindOf(err).String()+": "+errMsg(err)))
	}
	if err := v.Verify(anchorHash, report); err != nil {
		return nil, err
	}
	err = records.Versions(state, func(a cc.RecordAnchor) bool {
		if !held[a.Org] {
			return true
		}
		rep.Versions++
		if !stored[version{a.ID, a.Version}] {
			if latest, err := records.GetAnchor(state, a.ID); err == nil && !latest.Erased {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s version %d is anchored at height %d but not in the vault", a.ID, a.Version, a.Height))
			}
		}
		return true
	})
	return rep, err
}

// errMsg is an error's message without its op prefix.
func errMsg(err error) string {
	if e, ok := err.(*cc.Error); ok && e.Msg != "" {
		return e.Msg
	}
	return err.Error()
}
