// Package kmeanstest is the test support of the k-means functions, kmeans and
// kmeans-balanced, as httptest is net/http's: a sequential Lloyd's k-means written apart
// from package kmeans, with a pluggable assignment step, to check flares against; a
// comparison of models within a relative tolerance; and a flare runner that checks
// that the ranks agree.
//
//	want := kmeanstest.Lloyd(points, dims, init, 100, 0, kmeanstest.Nearest)
//	got := kmeanstest.Run(t, flaretest.Layout{Size: 8, Granularity: 4}, flaretest.Memory, "kmeans", in, kmeans.Nearest)
//	if diff := kmeanstest.Diff(got, want, 1e-9); diff != "" {
//		t.Error(diff)
//	}
package kmeanstest
