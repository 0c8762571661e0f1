// Package gridsearch is the Burst function "gridsearch": a hyperparameter grid search,
// the embarrassingly parallel half of machine learning, spread over a flare. The model is
// ridge regression on polynomial features, and the grid is every (degree, alpha) pair:
// degree d expands each feature x into x, x², …, x^d (no cross terms), and alpha is the
// ridge penalty. Each pair is scored by k-fold cross-validation (sample i in fold
// i mod k; features standardised and the target centred on each training fold, so the
// intercept is not penalised; the normal equations solved by Cholesky), the score being
// the mean squared error over the held-out folds.
//
// Every rank holds the whole dataset (it is generated from a seed, or read from a file,
// by each rank) and scores grid points i with i mod size = rank; rank 0 gathers every
// score and picks the lowest mean squared error (the earlier grid point on a tie).
// Scores are computed by the same code whatever the rank, so the pick does not depend
// on the burst size or the granularity.
//
// Input (the same for every rank), with a generated dataset (a dataset.Regression: a
// quadratic target plus noise, so degree 2 should win):
//
//	{"generate": {"samples": 2000, "features": 5, "noise": 0.1, "seed": 3},
//	 "alphas": [0.001, 0.01, 0.1, 1, 10], "degrees": [1, 2, 3], "folds": 5}
//
// or a CSV file that every invoker can read (one sample a line, the features then the
// target; '#' comments and a header line are skipped):
//
//	{"file": "/data/samples.csv"}
//
// or the same CSV stored in the cluster (`burst data put samples samples.csv`):
//
//	{"dataset": "samples"}
//
// Defaults: alphas 10^-4 to 10^2 in half-decade steps (13 values), degrees [1, 2, 3],
// folds 5. Grid points are ordered degree-major: i = degree index·len(alphas) + alpha
// index. Since every rank holds the whole dataset, samples × features × the largest
// degree is at most MaxWorkerFloats (2²⁶), and features × the largest degree at most
// MaxColumns (512).
//
// Output: rank 0 answers
//
//	{"rank": 0, "evaluated": 3, "best": {"degree": 2, "alpha": 0.01, "mse": 0.0102},
//	 "scores": [{"degree": 1, "alpha": 0.0001, "mse": 0.53}, ...], "samples": 2000,
//	 "features": 5}
//
// with the score of every grid point in grid order; the other ranks answer
// {"rank": r, "evaluated": n}, the number of grid points they scored.
package gridsearch
