package comm

import (
	"context"
	"fmt"
	"slices"
)

// Collectives are pack-aware: one worker per pack (its leader, or the root in the root's
// pack) does the pack's remote sends and receives, and the rest is handed over in memory.
// Remote traffic is thus one message per pack or per pair of packs, never per worker:
//
//	Broadcast  P−1 remote messages (a binomial tree over packs)
//	Scatter    P−1 (the root sends each pack its parts in one bundle)
//	Gather     P−1 (each pack bundles its parts for the root)
//	Reduce     P−1 (each pack combines its ranks first)
//	AllGather  P·(P−1) (each pack's bundle to every other pack)
//	AllToAll   P·(P−1) (one bundle per ordered pair of packs)
//	AllReduce  2·(P−1) (Reduce to rank 0, then Broadcast)
//	Barrier    2·(P−1) empty messages
//
// counted per chunk for messages larger than the chunk size.

// Tags of the steps inside one collective.
const (
	tagRemote  uint16 = iota // between packs
	tagLocal                 // inside a pack, towards or from the pack's agent
	tagLocal2                // a second step inside a pack
	tagLocal3                // a third one
	tagRemote2               // a second step between packs
)

func (w *Worker) nextColl() uint64 {
	w.coll++
	return w.coll
}

func (p *Pack) packOf(r int) int { return p.cfg.PackOf(r) }
func (p *Pack) leader(q int) int {
	first, _ := p.cfg.PackRanks(q)
	return first
}
func (p *Pack) ranksOf(q int) (first, end int) { return p.cfg.PackRanks(q) }

// agent is the worker that does pack q's remote work in a collective rooted at root.
func (p *Pack) agent(q, root int) int {
	if p.packOf(root) == q {
		return root
	}
	return p.leader(q)
}

// treeParent and treeChildren give a binomial tree over n packs rooted at pack root.
func treeParent(q, root, n int) int {
	rel := (q - root + n) % n
	for mask := 1; mask < n; mask <<= 1 {
		if rel&mask != 0 {
			return (rel - mask + root) % n
		}
	}
	return -1
}

func treeChildren(q, root, n int) []int {
	rel := (q - root + n) % n
	mask := 1
	for mask < n && rel&mask == 0 {
		mask <<= 1
	}
	var kids []int
	for m := mask >> 1; m > 0; m >>= 1 {
		if rel+m < n {
			kids = append(kids, (rel+m+root)%n)
		}
	}
	return kids
}

// Broadcast sends root's data to every worker and returns it; data is ignored elsewhere.
func (w *Worker) Broadcast(ctx context.Context, root int, data []byte) ([]byte, error) {
	if err := w.checkRank(root, "root"); err != nil {
		return nil, err
	}
	m, err := w.broadcast(ctx, w.nextColl(), root, message{data: data})
	return m.data, err
}

func (w *Worker) broadcast(ctx context.Context, seq uint64, root int, m message) (message, error) {
	p := w.p
	agent := p.agent(p.index, root)
	if w.rank != agent {
		return w.recv(ctx, kindColl, tagLocal, seq, agent)
	}
	rootPack := p.packOf(root)
	if p.index != rootPack {
		parent := treeParent(p.index, rootPack, p.packs)
		var err error
		if m, err = w.recv(ctx, kindColl, tagRemote, seq, p.agent(parent, root)); err != nil {
			return m, err
		}
	}
	for _, q := range treeChildren(p.index, rootPack, p.packs) {
		if err := w.send(ctx, kindColl, tagRemote, seq, p.agent(q, root), message{data: m.data}); err != nil {
			return m, err
		}
	}
	for r := p.first; r < p.end; r++ {
		if r != w.rank {
			if err := w.send(ctx, kindColl, tagLocal, seq, r, message{data: m.data}); err != nil {
				return m, err
			}
		}
	}
	return m, nil
}

// Scatter hands parts[r] of root's parts to rank r and returns this worker's part. At
// the root len(parts) must be Size(); parts is ignored elsewhere.
func (w *Worker) Scatter(ctx context.Context, root int, parts [][]byte) ([]byte, error) {
	if err := w.checkRank(root, "root"); err != nil {
		return nil, err
	}
	p := w.p
	if w.rank == root && len(parts) != p.cfg.Size {
		return nil, fmt.Errorf("%w: scatter of %d parts to %d workers", ErrBadArgument, len(parts), p.cfg.Size)
	}
	seq := w.nextColl()
	rootPack := p.packOf(root)
	switch {
	case w.rank == root:
		for q := range p.packs {
			if q != rootPack {
				first, end := p.ranksOf(q)
				if err := w.send(ctx, kindColl, tagRemote, seq, p.leader(q), message{parts: parts[first:end]}); err != nil {
					return nil, err
				}
			}
		}
		for r := p.first; r < p.end; r++ {
			if r != root {
				if err := w.send(ctx, kindColl, tagLocal, seq, r, message{data: parts[r]}); err != nil {
					return nil, err
				}
			}
		}
		return parts[root], nil
	case p.index == rootPack:
		m, err := w.recv(ctx, kindColl, tagLocal, seq, root)
		return m.data, err
	case w.rank == p.leader(p.index):
		m, err := w.recv(ctx, kindColl, tagRemote, seq, root)
		if err != nil {
			return nil, err
		}
		mine, err := decodeBundle(m.data)
		if err != nil {
			return nil, err
		}
		if len(mine) != p.end-p.first {
			return nil, fmt.Errorf("%w: scatter bundle of %d parts for a pack of %d", ErrBadFrame, len(mine), p.end-p.first)
		}
		for r := p.first + 1; r < p.end; r++ {
			if err := w.send(ctx, kindColl, tagLocal, seq, r, message{data: mine[r-p.first]}); err != nil {
				return nil, err
			}
		}
		return mine[0], nil
	default:
		m, err := w.recv(ctx, kindColl, tagLocal, seq, p.leader(p.index))
		return m.data, err
	}
}

// collectLocal makes the pack's agent gather the data of every worker of its pack, in
// rank order; the others send theirs and get nil.
func (w *Worker) collectLocal(ctx context.Context, seq uint64, agent int, data []byte) ([]message, error) {
	p := w.p
	if w.rank != agent {
		return nil, w.send(ctx, kindColl, tagLocal, seq, agent, message{data: data})
	}
	local := make([]message, p.end-p.first)
	for r := p.first; r < p.end; r++ {
		if r == w.rank {
			local[r-p.first] = message{data: data}
			continue
		}
		m, err := w.recv(ctx, kindColl, tagLocal, seq, r)
		if err != nil {
			return nil, err
		}
		local[r-p.first] = m
	}
	return local, nil
}

func datas(ms []message) [][]byte {
	out := make([][]byte, len(ms))
	for i, m := range ms {
		out[i] = m.data
	}
	return out
}

// recvBundle receives pack q's bundle and checks it has one part per rank of q.
func (w *Worker) recvBundle(ctx context.Context, tag uint16, seq uint64, src, q int) ([][]byte, error) {
	m, err := w.recv(ctx, kindColl, tag, seq, src)
	if err != nil {
		return nil, err
	}
	parts, err := decodeBundle(m.data)
	if err != nil {
		return nil, err
	}
	first, end := w.p.ranksOf(q)
	if len(parts) != end-first {
		return nil, fmt.Errorf("%w: bundle of %d parts from a pack of %d", ErrBadFrame, len(parts), end-first)
	}
	return parts, nil
}

// Gather collects every worker's data at root, in rank order; the others get nil.
func (w *Worker) Gather(ctx context.Context, root int, data []byte) ([][]byte, error) {
	if err := w.checkRank(root, "root"); err != nil {
		return nil, err
	}
	p := w.p
	seq := w.nextColl()
	rootPack := p.packOf(root)
	local, err := w.collectLocal(ctx, seq, p.agent(p.index, root), data)
	if err != nil || local == nil {
		return nil, err
	}
	if p.index != rootPack {
		return nil, w.send(ctx, kindColl, tagRemote, seq, root, message{parts: datas(local)})
	}
	out := make([][]byte, p.cfg.Size)
	copy(out[p.first:], datas(local))
	for q := range p.packs {
		if q == rootPack {
			continue
		}
		parts, err := w.recvBundle(ctx, tagRemote, seq, p.leader(q), q)
		if err != nil {
			return nil, err
		}
		copy(out[p.leader(q):], parts)
	}
	return out, nil
}

// AllGather collects every worker's data, in rank order, at every worker.
func (w *Worker) AllGather(ctx context.Context, data []byte) ([][]byte, error) {
	p := w.p
	seq := w.nextColl()
	leader := p.leader(p.index)
	local, err := w.collectLocal(ctx, seq, leader, data)
	if err != nil {
		return nil, err
	}
	if local == nil {
		m, err := w.recv(ctx, kindColl, tagLocal2, seq, leader)
		return slices.Clone(m.parts), err
	}
	all := make([][]byte, p.cfg.Size)
	copy(all[p.first:], datas(local))
	if p.packs > 1 {
		bundle := datas(local)
		for q := range p.packs {
			if q != p.index {
				if err := w.send(ctx, kindColl, tagRemote, seq, p.leader(q), message{parts: bundle}); err != nil {
					return nil, err
				}
			}
		}
		for q := range p.packs {
			if q == p.index {
				continue
			}
			parts, err := w.recvBundle(ctx, tagRemote, seq, p.leader(q), q)
			if err != nil {
				return nil, err
			}
			copy(all[p.leader(q):], parts)
		}
	}
	for r := p.first + 1; r < p.end; r++ {
		if err := w.send(ctx, kindColl, tagLocal2, seq, r, message{parts: all}); err != nil {
			return nil, err
		}
	}
	return slices.Clone(all), nil
}

// AllToAll sends parts[r] to rank r, for every r, and returns what every rank sent to
// this one, in rank order. len(parts) must be Size().
func (w *Worker) AllToAll(ctx context.Context, parts [][]byte) ([][]byte, error) {
	p := w.p
	if len(parts) != p.cfg.Size {
		return nil, fmt.Errorf("%w: all-to-all of %d parts among %d workers", ErrBadArgument, len(parts), p.cfg.Size)
	}
	seq := w.nextColl()
	out := make([][]byte, p.cfg.Size)
	out[w.rank] = parts[w.rank]
	for r := p.first; r < p.end; r++ {
		if r != w.rank {
			if err := w.send(ctx, kindColl, tagLocal, seq, r, message{data: parts[r]}); err != nil {
				return nil, err
			}
		}
	}
	if p.packs > 1 {
		if err := w.allToAllRemote(ctx, seq, parts, out); err != nil {
			return nil, err
		}
	}
	for r := p.first; r < p.end; r++ {
		if r != w.rank {
			m, err := w.recv(ctx, kindColl, tagLocal, seq, r)
			if err != nil {
				return nil, err
			}
			out[r] = m.data
		}
	}
	return out, nil
}

// allToAllRemote moves the parts that cross packs: every worker hands its whole parts to
// the leader, leaders swap one bundle per pair of packs, and each leader hands every
// worker of its pack the parts it got for it, in source rank order.
func (w *Worker) allToAllRemote(ctx context.Context, seq uint64, parts, out [][]byte) error {
	p := w.p
	leader := p.leader(p.index)
	size := p.end - p.first
	if w.rank != leader {
		if err := w.send(ctx, kindColl, tagLocal2, seq, leader, message{parts: parts}); err != nil {
			return err
		}
		m, err := w.recv(ctx, kindColl, tagLocal3, seq, leader)
		if err != nil {
			return err
		}
		fillRemote(p, out, m.parts)
		return nil
	}
	mine := make([][][]byte, size)
	mine[0] = parts
	for r := p.first + 1; r < p.end; r++ {
		m, err := w.recv(ctx, kindColl, tagLocal2, seq, r)
		if err != nil {
			return err
		}
		mine[r-p.first] = m.parts
	}
	for q := range p.packs {
		if q == p.index {
			continue
		}
		first, end := p.ranksOf(q)
		bundle := make([][]byte, 0, size*(end-first))
		for s := range size {
			bundle = append(bundle, mine[s][first:end]...)
		}
		if err := w.send(ctx, kindColl, tagRemote, seq, p.leader(q), message{parts: bundle}); err != nil {
			return err
		}
	}
	// got[d] lists, for local rank d, the parts from every remote rank in rank order.
	got := make([][][]byte, size)
	for d := range got {
		got[d] = make([][]byte, 0, p.cfg.Size-size)
	}
	for q := range p.packs {
		if q == p.index {
			continue
		}
		m, err := w.recv(ctx, kindColl, tagRemote, seq, p.leader(q))
		if err != nil {
			return err
		}
		b, err := decodeBundle(m.data)
		if err != nil {
			return err
		}
		first, end := p.ranksOf(q)
		if len(b) != (end-first)*size {
			return fmt.Errorf("%w: all-to-all bundle of %d parts, want %d", ErrBadFrame, len(b), (end-first)*size)
		}
		for s := range end - first {
			for d := range size {
				got[d] = append(got[d], b[s*size+d])
			}
		}
	}
	for r := p.first + 1; r < p.end; r++ {
		if err := w.send(ctx, kindColl, tagLocal3, seq, r, message{parts: got[r-p.first]}); err != nil {
			return err
		}
	}
	fillRemote(p, out, got[0])
	return nil
}

// fillRemote puts the parts from remote ranks, listed in rank order, into out.
func fillRemote(p *Pack, out, remote [][]byte) {
	i := 0
	for r := range out {
		if r < p.first || r >= p.end {
			out[r] = remote[i]
			i++
		}
	}
}

// Barrier returns once every worker of the flare has called it.
func (w *Worker) Barrier(ctx context.Context) error {
	if _, err := w.reduce(ctx, w.nextColl(), 0, nil, nopCombiner{}); err != nil {
		return err
	}
	_, err := w.broadcast(ctx, w.nextColl(), 0, message{})
	return err
}
