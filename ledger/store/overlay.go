package store

import (
	"slices"
	"strings"

	"github.com/google/btree"

	cc "carechain"
)

// Write is one buffered change to a key: a new value, or a deletion when
// Deleted is true (Value is then nil). Writes are what a block commits to.
type Write struct {
	Key     string `json:"key"`
	Value   []byte `json:"value"`
	Deleted bool   `json:"deleted"`

	sums *Sums // the value's commitment hashes, when known ahead (SetSharedSums)
}

// item is an Overlay's record of one key. The map and the B-tree share the
// same *item, so updating a key already buffered touches neither structure.
type item struct {
	key     string
	value   []byte // owned by the overlay; replaced, never modified in place
	deleted bool
	indexed bool   // in the B-tree (else in fresh)
	dropped bool   // forgotten before it was indexed: fresh skips it
	tag     uint64 // FlushTagged's tag of the last write; 0 after any other write
	sums    *Sums  // the write's Sums (SumsOf) if it was SetSharedSums, else nil
}

func itemLess(a, b *item) bool { return a.key < b.key }

// btreeDegree suits keys of tens of bytes; any degree gives the same order.
const btreeDegree = 32

// Overlay is a write-buffering cc.KV over a parent cc.Reader. Set and Delete
// only change the overlay; Get and Iterate show the overlay's writes merged
// over the parent (a deletion hides the parent's key). Flush applies the
// buffered writes to another KV, Discard drops them.
//
// Values passed to Set are copied, and values returned by Get and Iterate are
// the caller's to keep. Keys are ordered by byte-wise string comparison.
//
// An Overlay is not safe for concurrent use; its parent must not change
// while the overlay is iterated. Overlays nest: a per-transaction overlay
// over the block's overlay is flushed into it when the transaction succeeds.
//
// The key order is built lazily: a new key goes to the map and to fresh,
// and only an ordered read (Iterate, Writes, Keys, Flush) sorts fresh —
// into the B-tree once the overlay has been iterated, otherwise as a plain
// sorted slice — so an overlay that is written and flushed but never
// iterated (most transactions, the mempool state) pays no B-tree inserts.
type Overlay struct {
	parent   cc.Reader // nil means an empty parent
	items    map[string]*item
	tree     *btree.BTreeG[*item] // indexed items; nil until first needed
	fresh    []*item              // items not in the tree, in no order (unless sorted)
	sorted   bool                 // fresh is sorted by key
	nDropped int                  // dropped items in fresh
	gen      uint64               // bumped by every change; lets Store detect late writes
	slab     []item               // unused items for newItem
	chunk    int                  // the size of slab's chunk
}

var _ cc.KV = (*Overlay)(nil)

// NewOverlay returns an empty overlay over parent. A nil parent is an empty
// state. It is cheap: the index is built on the first write.
func NewOverlay(parent cc.Reader) *Overlay {
	return &Overlay{parent: parent}
}

// Get returns the overlay's value for key if it has written key (nil if it
// deleted it), else the parent's value. It returns nil, nil when absent.
func (o *Overlay) Get(key string) ([]byte, error) {
	if it, ok := o.items[key]; ok {
		if it.deleted {
			return nil, nil
		}
		return clone(it.value), nil
	}
	if o.parent == nil {
		return nil, nil
	}
	return o.parent.Get(key)
}

// Set buffers value for key. A nil value is stored as an empty value, which
// Get reports as present (non-nil, zero length).
func (o *Overlay) Set(key string, value []byte) {
	o.put(key, clone(value), false)
}

// SetShared is Set without the copy, for a value the caller guarantees
// nobody modifies: a Write's value from another overlay (whose values are
// replaced, never modified in place), as a block does with the writes of
// an admission it reuses.
func (o *Overlay) SetShared(key string, value []byte) {
	if value == nil {
		value = []byte{} // present, as Set stores it
	}
	o.put(key, value, false)
}

// SetSharedSums is SetShared of a value whose commitment hashes the caller
// has computed: sums must be SumsOf's for the write (key, value). The block's FinalizeBlock
// then uses them instead of hashing the value again.
func (o *Overlay) SetSharedSums(key string, value []byte, sums *Sums) {
	o.SetShared(key, value)
	o.items[key].sums = sums
}

// Delete buffers the deletion of key. Deleting a key the parent does not
// hold is still recorded as a write.
func (o *Overlay) Delete(key string) {
	o.put(key, nil, true)
}

// put records a write; value is owned by the overlay from now on.
func (o *Overlay) put(key string, value []byte, deleted bool) {
	o.putTagged(key, value, deleted, 0)
}

// putTagged is put recording tag as the write's tag.
func (o *Overlay) putTagged(key string, value []byte, deleted bool, tag uint64) {
	o.gen++
	if it, ok := o.items[key]; ok {
		it.value, it.deleted, it.tag, it.sums = value, deleted, tag, nil
		return
	}
	if o.items == nil {
		o.items = make(map[string]*item)
	}
	it := o.newItem()
	it.key, it.value, it.deleted, it.tag = key, value, deleted, tag
	o.items[key] = it
	o.fresh = append(o.fresh, it)
	o.sorted = false
}

// newItem returns a zero item from the overlay's slab. Items come in
// chunks, 4 for an overlay's first writes and doubling up to 256, so an
// admission's scratch overlay (a few writes) allocates one chunk and a
// block's working overlay one per 256 writes rather than one per write.
// A chunk stays alive while any of its items is referenced.
func (o *Overlay) newItem() *item {
	if len(o.slab) == 0 {
		o.chunk = min(max(2*o.chunk, 4), 256)
		o.slab = make([]item, o.chunk)
	}
	it := &o.slab[0]
	o.slab = o.slab[1:]
	return it
}

// sortFresh sorts fresh by key, dropping forgotten items.
func (o *Overlay) sortFresh() {
	if o.sorted {
		return
	}
	if o.nDropped > 0 {
		o.compactFresh()
	}
	slices.SortFunc(o.fresh, func(a, b *item) int { return strings.Compare(a.key, b.key) })
	o.sorted = true
}

// compactFresh removes forgotten items from fresh.
func (o *Overlay) compactFresh() {
	kept := o.fresh[:0]
	for _, it := range o.fresh {
		if !it.dropped {
			kept = append(kept, it)
		}
	}
	clear(o.fresh[len(kept):])
	o.fresh = kept
	o.nDropped = 0
}

// index moves fresh into the B-tree.
func (o *Overlay) index() {
	if len(o.fresh) == 0 {
		return
	}
	if o.tree == nil {
		o.tree = btree.NewG(btreeDegree, itemLess)
	}
	o.sortFresh()
	o.nDropped = 0
	for _, it := range o.fresh {
		if !it.dropped {
			it.indexed = true
			o.tree.ReplaceOrInsert(it)
		}
	}
	clear(o.fresh)
	o.fresh = o.fresh[:0]
}

// Iterate calls fn for every live key with the given prefix, in ascending
// byte order, merging the overlay's writes over the parent's entries. It
// stops early when fn returns false. Writes fn makes to this overlay are not
// seen by the running iteration. Errors are the parent's.
func (o *Overlay) Iterate(prefix string, fn func(key string, value []byte) bool) error {
	own := o.snapshot(prefix)
	i := 0
	stopped := false
	if o.parent != nil {
		err := o.parent.Iterate(prefix, func(pk string, pv []byte) bool {
			for i < len(own) && own[i].key < pk {
				it := own[i]
				i++
				if !it.deleted && !fn(it.key, clone(it.value)) {
					stopped = true
					return false
				}
			}
			if i < len(own) && own[i].key == pk {
				it := own[i]
				i++
				if it.deleted {
					return true
				}
				pv = clone(it.value)
			}
			if !fn(pk, pv) {
				stopped = true
				return false
			}
			return true
		})
		if err != nil || stopped {
			return err
		}
	}
	for ; i < len(own); i++ {
		it := own[i]
		if !it.deleted && !fn(it.key, clone(it.value)) {
			return nil
		}
	}
	return nil
}

// snapshot copies the overlay's records with the given prefix, in key order.
// Copying makes Iterate immune to writes fn makes while it runs.
func (o *Overlay) snapshot(prefix string) []item {
	if len(o.items) == 0 {
		return nil
	}
	o.index()
	var out []item
	o.tree.AscendGreaterOrEqual(&item{key: prefix}, func(it *item) bool {
		if !strings.HasPrefix(it.key, prefix) {
			return false
		}
		out = append(out, *it)
		return true
	})
	return out
}

// Len returns the number of keys the overlay has written (set or deleted).
func (o *Overlay) Len() int { return len(o.items) }

// Writes returns the buffered writes sorted by key. The Value slices are
// shared with the overlay and must not be modified.
func (o *Overlay) Writes() []Write {
	out := make([]Write, 0, len(o.items))
	o.ascend(func(it *item) bool {
		out = append(out, Write{Key: it.key, Value: it.value, Deleted: it.deleted, sums: it.sums})
		return true
	})
	return out
}

// Keys returns the keys the overlay has written (set or deleted), sorted.
func (o *Overlay) Keys() []string {
	out := make([]string, 0, len(o.items))
	o.ascend(func(it *item) bool {
		out = append(out, it.key)
		return true
	})
	return out
}

// Flush applies the buffered writes to dst in ascending key order (Set for
// values, Delete for deletions) and then empties the overlay.
func (o *Overlay) Flush(dst cc.KV) {
	if d, ok := dst.(*Overlay); ok {
		if d == o {
			return // flushing into itself changes nothing
		}
		// The values are not used again here, so hand them over uncopied.
		o.ascend(func(it *item) bool {
			d.put(it.key, it.value, it.deleted)
			return true
		})
	} else {
		o.ascend(func(it *item) bool {
			if it.deleted {
				dst.Delete(it.key)
			} else {
				dst.Set(it.key, it.value)
			}
			return true
		})
	}
	o.Discard()
}

// FlushTagged is Flush into another overlay that also records tag (not 0)
// on each key written, so that ForgetTagged can later drop exactly the keys
// this flush wrote last. The mempool state tags each admission's writes with
// its serial number.
func (o *Overlay) FlushTagged(dst *Overlay, tag uint64) {
	if dst == o {
		return
	}
	o.ascend(func(it *item) bool {
		dst.putTagged(it.key, it.value, it.deleted, tag)
		return true
	})
	o.Discard()
}

// PutTagged records writes (their values shared: nobody may modify them)
// tagged with tag, as FlushTagged of an overlay holding them would.
func (o *Overlay) PutTagged(writes []Write, tag uint64) {
	for _, w := range writes {
		value := w.Value
		if value == nil && !w.Deleted {
			value = []byte{}
		}
		o.putTagged(w.Key, value, w.Deleted, tag)
	}
}

// ForgetTagged forgets key (see Forget) if its last write was a
// FlushTagged with tag, and reports whether it did.
func (o *Overlay) ForgetTagged(key string, tag uint64) bool {
	it, ok := o.items[key]
	if !ok || it.tag != tag {
		return false
	}
	o.forget(it)
	return true
}

// ascend calls fn on the overlay's records in key order.
func (o *Overlay) ascend(fn func(it *item) bool) {
	if o.tree == nil || o.tree.Len() == 0 {
		// Never iterated: the sorted fresh slice is the order.
		o.sortFresh()
		for _, it := range o.fresh {
			if !it.dropped && !fn(it) {
				return
			}
		}
		return
	}
	o.index()
	o.tree.Ascend(fn)
}

// Forget drops the overlay's buffered write of key, if any, so Get shows
// the parent's value again. Unlike Delete it records nothing.
func (o *Overlay) Forget(key string) {
	if it, ok := o.items[key]; ok {
		o.forget(it)
	}
}

// forget drops it, one of the overlay's records.
func (o *Overlay) forget(it *item) {
	o.gen++
	delete(o.items, it.key)
	if it.indexed {
		o.tree.Delete(it)
		return
	}
	it.dropped = true
	o.nDropped++
	if o.nDropped > 1024 && o.nDropped > len(o.fresh)/2 {
		o.compactFresh() // keeps the order: fresh stays sorted if it was
	}
}

// Discard drops every buffered write; the overlay then shows its parent.
func (o *Overlay) Discard() {
	o.gen++
	if len(o.items) == 0 && len(o.fresh) == 0 {
		return
	}
	clear(o.items)
	if o.tree != nil {
		o.tree.Clear(false)
	}
	clear(o.fresh)
	o.fresh = o.fresh[:0]
	o.sorted = false
	o.nDropped = 0
}

// clone returns a copy of b that is never nil, so a present empty value
// stays distinguishable from an absent one.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
