package dataset

// Split returns the share [lo, hi) of part among parts nearly equal blocks of n items,
// in order: part r holds items n·r/parts up to n·(r+1)/parts.
func Split(n int64, parts, part int) (lo, hi int64) {
	return splitAt(n, parts, part), splitAt(n, parts, part+1)
}

// splitAt is n·i/parts without overflow for any n and i ≤ parts < 2³¹.
func splitAt(n int64, parts, i int) int64 {
	p, k := int64(parts), int64(i)
	return n/p*k + n%p*k/p
}
