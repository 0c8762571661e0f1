package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/burstgo/burst/functions/examples/dataset"
)

// newDataCmd is `burst data`: the example apps' seeded generators, writing the files
// their "file" inputs read, from the same JSON as their "generate" inputs; and the
// datasets stored in the cluster (datasets.go).
func newDataCmd(cfg *config) *cobra.Command {
	var out string
	kinds := map[string]func(spec []byte, w io.Writer) error{
		"points": func(spec []byte, w io.Writer) error {
			var p dataset.Points
			if err := decodeSpec(spec, &p); err != nil {
				return err
			}
			if p = p.WithDefaults(); p.Validate() != nil {
				return p.Validate()
			}
			return p.WriteCSV(w)
		},
		"graph": func(spec []byte, w io.Writer) error {
			var g dataset.Graph
			if err := decodeSpec(spec, &g); err != nil {
				return err
			}
			if g = g.WithDefaults(); g.Validate() != nil {
				return g.Validate()
			}
			return g.WriteEdgeList(w)
		},
		"records": func(spec []byte, w io.Writer) error {
			var r dataset.Records
			if err := decodeSpec(spec, &r); err != nil {
				return err
			}
			if err := r.Validate(); err != nil {
				return err
			}
			_, err := r.WriteTo(w)
			return err
		},
		"samples": func(spec []byte, w io.Writer) error {
			var r dataset.Regression
			if err := decodeSpec(spec, &r); err != nil {
				return err
			}
			if r = r.WithDefaults(); r.Validate() != nil {
				return r.Validate()
			}
			return r.WriteCSV(w)
		},
	}
	cmd := &cobra.Command{
		Use:   "data {points|graph|records|samples} SPEC -o FILE",
		Short: "Write an example app's seeded dataset to a file; store datasets in the cluster",
		Long: `Writes the dataset that a "generate" input makes, as the file a "file" input reads:

  points   k-means points, CSV          '{"points":1000000,"dims":2,"clusters":8,"seed":42}'
  graph    PageRank edge list           '{"nodes":1000000,"degree":8,"seed":7}'
  records  TeraSort 100-byte records    '{"records":10000000,"seed":1}'
  samples  grid search samples, CSV     '{"samples":2000,"features":5,"noise":0.1,"seed":3}'

A file is read only where it exists; "burst data put NAME FILE" stores it in the
cluster, and an input of {"dataset": "NAME"} reads it from any host.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			gen, ok := kinds[args[0]]
			if !ok {
				return fmt.Errorf("unknown dataset %q: want points, graph, records or samples", args[0])
			}
			if out == "" {
				return fmt.Errorf("-o FILE is required")
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			w := bufio.NewWriterSize(f, 1<<20)
			if err := gen([]byte(args[1]), w); err != nil {
				f.Close()
				os.Remove(out)
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err := w.Flush(); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write")
	newDatasetCmds(cmd, cfg)
	return cmd
}

// decodeSpec decodes a dataset's JSON strictly: a misspelt field is an error, not a
// default.
func decodeSpec(spec []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	return nil
}
