package gatekeeper

import (
	"context"
	"time"

	cc "carechain"
	"carechain/records"
)

// shredErased destroys the data keys of a record the ledger says is erased
// (idempotent); a failure is logged and retried by the next sweep.
func (g *Gatekeeper) shredErased(id string) {
	if err := g.cfg.Vault.Shred(id); err != nil {
		g.log.Error("shredding an erased record", "record", id, "err", err)
	}
}

// SweepErased crypto-shreds every record in the vault whose anchor the
// committed state marks erased, and returns how many it shredded. Reads
// of erased records answer Gone whether or not the sweep ran; the sweep
// makes sure no key that could decrypt them is left. It walks the whole
// vault: a node runs it at startup (RecoverAmong) and Watch then follows
// the erasures committed since (see Committed).
func (g *Gatekeeper) SweepErased() (int, error) {
	// Erasures committed from now on are queued for Watch; those committed
	// before are in the state this sweep reads.
	g.erasures.enable()
	state := g.cfg.Chain.State()
	var erased []string
	last := ""
	err := g.cfg.Vault.Records(func(id string, _ int) bool {
		if id == last {
			return true
		}
		last = id
		if a, err := records.GetAnchor(state, id); err == nil && a.Erased {
			erased = append(erased, id)
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	for _, id := range erased {
		if err := g.cfg.Vault.Shred(id); err != nil {
			return 0, err
		}
	}
	return len(erased), nil
}

// Recover reconciles the vault with the ledger after a crash: a blob whose
// version has no committed anchor (the node stopped between writing blobs
// and committing their anchors) is removed, and erased records are
// shredded. Anchors are only submitted after their blobs are synced, so
// no anchor can lack its blob. It returns how many blobs it removed.
//
// Recover considers every blob, so it must run before the node ingests
// anything; a node that recovers later (once blocks in flight at startup
// are decided) lists the blobs at startup with Stored and calls
// RecoverAmong.
func (g *Gatekeeper) Recover() (int, error) { return g.RecoverAmong(nil) }

// VersionRef names one stored version of a record.
type VersionRef struct {
	ID      string
	Version int
}

// Stored lists the record versions in the vault now.
func (g *Gatekeeper) Stored() (map[VersionRef]bool, error) {
	out := map[VersionRef]bool{}
	err := g.cfg.Vault.Records(func(id string, version int) bool {
		out[VersionRef{id, version}] = true
		return true
	})
	return out, err
}

// RecoverAmong is Recover limited to the versions in among (every version
// when among is nil): blobs written since among was listed — ingests in
// flight — are left alone.
func (g *Gatekeeper) RecoverAmong(among map[VersionRef]bool) (int, error) {
	state := g.cfg.Chain.State()
	n, err := g.cfg.Vault.Prune(func(id string, version int) (bool, error) {
		if among != nil && !among[VersionRef{id, version}] {
			return true, nil
		}
		_, err := records.GetVersion(state, id, version)
		if cc.Is(cc.NotFound, err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return n, err
	}
	_, err = g.SweepErased()
	return n, err
}

// sweepIDs shreds each of ids (records named by committed erasures)
// whose anchor the committed state marks erased and of which the vault
// holds a version, and returns how many it shredded and the ids it could
// not check or shred (to retry), with the first error.
func (g *Gatekeeper) sweepIDs(ids []string) (int, []string, error) {
	state := g.cfg.Chain.State()
	n := 0
	var failed []string
	var first error
	fail := func(id string, err error) {
		failed = append(failed, id)
		if first == nil {
			first = err
		}
	}
	for _, id := range ids {
		a, err := records.GetAnchor(state, id)
		if cc.Is(cc.NotFound, err) {
			continue
		}
		if err != nil {
			fail(id, err)
			continue
		}
		if !a.Erased {
			continue
		}
		held, err := g.holds(id, a.Version)
		if err != nil {
			fail(id, err)
			continue
		}
		if !held {
			continue // another node's record, or shredded already
		}
		if err := g.cfg.Vault.Shred(id); err != nil {
			fail(id, err)
			continue
		}
		n++
	}
	return n, failed, first
}

// holds reports whether the vault has any of versions 1..latest of id.
func (g *Gatekeeper) holds(id string, latest int) (bool, error) {
	for v := latest; v >= 1; v-- {
		if ok, err := g.cfg.Vault.Has(id, v); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// Watch shreds erased records until ctx ends. Fed by Committed, it shreds
// the records of each committed record.erase as soon as the block is
// committed, without walking the vault, and retries failures every
// interval (a full sweep when the queue overflowed). Without commit
// notices it sweeps the whole vault every interval, so an erasure
// committed through any node is shredded here within interval.
func (g *Gatekeeper) Watch(ctx context.Context, interval time.Duration) {
	wake := g.erasures.wakeup()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			g.sweepQueued(false)
		case <-t.C:
			g.sweepQueued(true)
		}
	}
}

// sweepQueued shreds the queued erasures, or sweeps the whole vault when
// the queue overflowed or, on a tick, when no commit notices come.
func (g *Gatekeeper) sweepQueued(tick bool) {
	fed, ids, full := g.erasures.take()
	var n int
	var err error
	switch {
	case full || !fed && tick:
		if n, err = g.SweepErased(); err != nil && full {
			g.erasures.again(nil, true)
		}
	case len(ids) > 0:
		var failed []string
		if n, failed, err = g.sweepIDs(ids); len(failed) > 0 {
			g.erasures.again(failed, false)
		}
	}
	if err != nil {
		g.log.Error("erasure sweep", "err", err)
	}
	if n > 0 {
		g.log.Info("erased records shredded", "count", n)
	}
}
