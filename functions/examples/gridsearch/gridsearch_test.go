package gridsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
)

// referenceScore is ridge cross-validation written apart from the package's code:
// the same model, solved by Gaussian elimination with partial pivoting on the full
// normal equations.
func referenceScore(x, y []float64, p, degree int, alpha float64, folds int) float64 {
	n, q := len(y), p*degree
	feat := func(i int) []float64 {
		r := make([]float64, 0, q)
		for j := range p {
			for d := 1; d <= degree; d++ {
				r = append(r, math.Pow(x[i*p+j], float64(d)))
			}
		}
		return r
	}
	total := 0.0
	for f := range folds {
		var train, test []int
		for i := range n {
			if i%folds == f {
				test = append(test, i)
			} else {
				train = append(train, i)
			}
		}
		mu, sd, ym := make([]float64, q), make([]float64, q), 0.0
		for _, i := range train {
			for c, v := range feat(i) {
				mu[c] += v / float64(len(train))
			}
			ym += y[i] / float64(len(train))
		}
		for _, i := range train {
			for c, v := range feat(i) {
				sd[c] += (v - mu[c]) * (v - mu[c]) / float64(len(train))
			}
		}
		for c := range sd {
			sd[c] = math.Sqrt(sd[c])
		}
		// Augmented matrix [ZᵀZ + αI | Zᵀy].
		m := make([][]float64, q)
		for a := range m {
			m[a] = make([]float64, q+1)
			m[a][a] = alpha
		}
		for _, i := range train {
			r := feat(i)
			for c := range r {
				r[c] = (r[c] - mu[c]) / sd[c]
			}
			for a := range q {
				for b := range q {
					m[a][b] += r[a] * r[b]
				}
				m[a][q] += r[a] * (y[i] - ym)
			}
		}
		for col := range q {
			piv := col
			for r := col + 1; r < q; r++ {
				if math.Abs(m[r][col]) > math.Abs(m[piv][col]) {
					piv = r
				}
			}
			m[col], m[piv] = m[piv], m[col]
			for r := range q {
				if r != col {
					k := m[r][col] / m[col][col]
					for c := col; c <= q; c++ {
						m[r][c] -= k * m[col][c]
					}
				}
			}
		}
		sse := 0.0
		for _, i := range test {
			pred := ym
			for c, v := range feat(i) {
				pred += (v - mu[c]) / sd[c] * m[c][q] / m[c][c]
			}
			sse += (y[i] - pred) * (y[i] - pred)
		}
		total += sse / float64(len(test))
	}
	return total / float64(folds)
}

func parse(t *testing.T, input string) Input {
	t.Helper()
	in, err := ParseInput(json.RawMessage(input))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// search runs the grid search on a flare and returns rank 0's result, checking that the
// ranks scored the whole grid between them.
func search(t *testing.T, l flaretest.Layout, b flaretest.Backend, in Input) Result {
	t.Helper()
	results, _, err := flaretest.Run(t, l, b, func(ctx context.Context, w *comm.Worker) (Result, error) {
		return run(ctx, w, in)
	})
	if err != nil {
		t.Fatalf("%v: %v", l, err)
	}
	evaluated := 0
	for _, r := range results {
		evaluated += r.Evaluated
	}
	if grid := len(in.Alphas) * len(in.Degrees); evaluated != grid || len(results[0].Scores) != grid {
		t.Fatalf("%v: %d grid points scored, %d reported, of %d", l, evaluated, len(results[0].Scores), grid)
	}
	return results[0]
}

func TestGridSearchMatchesReference(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"quadratic", `{"generate": {"samples": 400, "features": 3, "noise": 0.1, "seed": 1}, "alphas": [0.001, 0.1, 10, 1000], "degrees": [1, 2, 3], "folds": 4}`},
		{"noisy", `{"generate": {"samples": 150, "features": 2, "noise": 2, "seed": 2}, "alphas": [0.01, 1, 100], "degrees": [1, 2, 4], "folds": 3}`},
		{"one point", `{"generate": {"samples": 60, "features": 1, "seed": 3}, "alphas": [1], "degrees": [2], "folds": 2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := parse(t, tt.input)
			g := in.Generate
			x, y := g.Generate()
			var want []Score
			best := 0
			for i := range len(in.Alphas) * len(in.Degrees) {
				s := Score{Degree: in.Degrees[i/len(in.Alphas)], Alpha: in.Alphas[i%len(in.Alphas)]}
				s.MSE = referenceScore(x, y, g.Features, s.Degree, s.Alpha, in.Folds)
				want = append(want, s)
				if s.MSE < want[best].MSE {
					best = i
				}
			}
			var first Result
			for i, l := range flaretest.Layouts {
				got := search(t, l, flaretest.Memory, in)
				if got.Best != got.Scores[best] || got.Best.Degree != want[best].Degree || got.Best.Alpha != want[best].Alpha {
					t.Errorf("size %d, g %d: picked %+v, the reference picks %+v", l.Size, l.Granularity, got.Best, want[best])
				}
				for j, s := range got.Scores {
					if s.Degree != want[j].Degree || s.Alpha != want[j].Alpha || math.Abs(s.MSE-want[j].MSE) > 1e-9*want[j].MSE {
						t.Errorf("size %d, g %d: score %d is %+v, the reference's %+v", l.Size, l.Granularity, j, s, want[j])
					}
				}
				if i == 0 {
					first = got
				} else if !slices.Equal(got.Scores, first.Scores) {
					t.Errorf("size %d, g %d: scores differ from size 1's", l.Size, l.Granularity)
				}
			}
		})
	}
}

// The target is quadratic: with little noise, degree 1 must lose.
func TestGridSearchFindsTheDegree(t *testing.T) {
	in := parse(t, `{"generate": {"samples": 1000, "features": 4, "noise": 0.05, "seed": 9}}`)
	got := search(t, flaretest.Layout{Size: 4, Granularity: 2}, flaretest.Memory, in)
	if got.Best.Degree < 2 || got.Best.MSE > 0.05*0.05*2 {
		t.Errorf("best %+v: want degree 2 or more and an error near the noise's 0.0025", got.Best)
	}
	if len(got.Scores) != 39 {
		t.Errorf("%d scores on the default grid, want 13 × 3", len(got.Scores))
	}
}

func TestGridSearchFromFile(t *testing.T) {
	gen := dataset.Regression{Samples: 300, Features: 3, Seed: 4}
	path := flaretest.TempFileOf(t, "samples.csv", gen.WriteCSV)
	grid := `"alphas": [0.01, 1], "degrees": [1, 2]`
	want := search(t, flaretest.Layout{Size: 2, Granularity: 1}, flaretest.Memory, parse(t, `{"generate": {"samples": 300, "features": 3, "seed": 4}, `+grid+`}`))
	got := search(t, flaretest.Layout{Size: 4, Granularity: 4}, flaretest.Memory, parse(t, fmt.Sprintf(`{"file": %q, %s}`, path, grid)))
	if !slices.Equal(got.Scores, want.Scores) || got.Samples != 300 || got.Features != 3 {
		t.Errorf("from the file: %+v; generated: %+v", got, want)
	}
}

func TestCholesky(t *testing.T) {
	// [4 2; 2 3] x = [2; 1] has x = [0.5, 0].
	x, err := cholesky([]float64{4, 0, 2, 3}, []float64{2, 1}, 2)
	if err != nil || math.Abs(x[0]-0.5) > 1e-15 || math.Abs(x[1]) > 1e-15 {
		t.Errorf("got %v, %v", x, err)
	}
	if _, err := cholesky([]float64{1, 0, 2, 1}, []float64{1, 1}, 2); err == nil {
		t.Error("an indefinite matrix was solved")
	}
}

func TestGridSearchOverNATS(t *testing.T) {
	nats := flaretest.NATS(t)
	in := parse(t, `{"generate": {"samples": 200, "features": 2, "seed": 5}, "alphas": [0.1, 10], "degrees": [1, 2, 3]}`)
	want := search(t, flaretest.Layout{Size: 1, Granularity: 1}, flaretest.Memory, in)
	got := search(t, flaretest.Layout{Size: 4, Granularity: 2}, nats, in)
	if !slices.Equal(got.Scores, want.Scores) || got.Best != want.Best {
		t.Errorf("over NATS: best %+v, alone: %+v", got.Best, want.Best)
	}
}

func TestBurst(t *testing.T) {
	results, err := flaretest.Burst(t, flaretest.Layout{Size: 3, Granularity: 1}, Burst, `{"generate": {"samples": 100, "seed": 1}, "alphas": [1, 2], "degrees": [1]}`)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(results[0])
	if !strings.Contains(string(b), `"best":{"degree":1,`) || !strings.Contains(string(b), `"evaluated":1`) {
		t.Errorf("rank 0 answered %s", b)
	}
	if s, ok := results[2].(Share); !ok || s.Evaluated != 0 || s.Rank != 2 {
		t.Errorf("rank 2 answered %#v", results[2])
	}
	one := flaretest.TempFile(t, "one.csv", "1,2\n3,4\n5,6\n")
	huge := flaretest.TempFile(t, "huge.csv", strings.Repeat("1,1e300\n2,-1e300\n", 10))
	tests := []struct{ name, input, want string }{
		{"no input", ``, "no input"},
		{"overflow", `{"file": "` + huge + `", "degrees": [1]}`, "too large"},
		{"unknown field", `{"file": "x", "alpha": [1]}`, "unknown field"},
		{"no source", `{}`, "exactly one"},
		{"empty grid", `{"file": "x", "alphas": []}`, "empty grid"},
		{"bad alpha", `{"file": "x", "alphas": [0]}`, "alpha 0"},
		{"bad degree", `{"file": "x", "degrees": [11]}`, "degree 11"},
		{"folds", `{"file": "x", "folds": 1}`, "1 folds"},
		{"grid too big", `{"file": "x", "alphas": [` + strings.Repeat("1,", 5000) + `1], "degrees": [1, 2]}`, "grid of"},
		{"too many columns", `{"generate": {"features": 100}, "degrees": [6]}`, "600 columns"},
		{"too many numbers", `{"generate": {"samples": 1000000, "features": 50}, "degrees": [1, 2]}`, "1000000 samples of 100 columns"},
		{"too few samples", `{"generate": {"samples": 9}, "folds": 5}`, "9 samples for 5 folds"},
		{"bad generator", `{"generate": {"samples": 1}}`, "1 samples"},
		{"missing file", `{"file": "/nonexistent/s.csv"}`, "no such file"},
		{"few samples", `{"file": "` + one + `"}`, "3 samples for 5 folds"},
	}
	for _, tt := range tests {
		_, err := flaretest.Burst(t, flaretest.Layout{Size: 2, Granularity: 2}, Burst, tt.input)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}
