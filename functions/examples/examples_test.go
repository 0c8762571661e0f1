package examples

import "testing"

func TestBuiltins(t *testing.T) {
	fns := Builtins()
	for _, want := range []string{"gridsearch", "hello", "kmeans", "kmeans-balanced", "pagerank", "sleep", "terasort"} {
		if fns[want] == nil {
			t.Errorf("no built-in %q", want)
		}
	}
	if len(fns) != 7 {
		t.Errorf("%d built-ins, want the 7 apps", len(fns))
	}
}
