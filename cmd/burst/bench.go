package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/burstgo/burst/bench"
)

// newBenchCmd is `burst bench`: the middleware's micro-benchmarks, with the flags of the
// Burst Communication Middleware's benchmark binary.
func newBenchCmd() *cobra.Command {
	o := bench.DefaultOptions()
	var asJSON bool
	var csvPath string
	cmd := &cobra.Command{
		Use:   "bench [flags] {" + strings.Join(bench.Backends, "|") + "}",
		Short: "Run a middleware micro-benchmark (one process per group, or all groups)",
		Long: `Runs one benchmark of the communication middleware and prints a line per worker,
a line per group and the latency percentiles over the repeats. Every benchmark
verifies the data it received (size and checksum) before it reports a figure.

Without --group-id one process runs every group. With it, the process runs that
group only and waits for the others, started the same way in other terminals:

  burst bench --benchmark pair --burst-size 2 --group-id 0 --server nats://127.0.0.1:4222 nats
  burst bench --benchmark pair --burst-size 2 --group-id 1 --server nats://127.0.0.1:4222 nats

The server is a running 'burst serve' (its NATS port), or one that the first process
starts itself with --embed. The backend 'raw' is the baseline: plain NATS
publish/subscribe of the same bytes; 'tcp' and 'unix' the floor: a plain byte stream
between the groups, set up through the server (pair and broadcast).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Backend = args[0]
			r, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if csvPath != "" {
				f := out
				if csvPath != "-" {
					file, err := os.Create(csvPath)
					if err != nil {
						return err
					}
					defer file.Close()
					f = file
				}
				if err := r.WriteCSV(f, true); err != nil {
					return fmt.Errorf("write CSV: %w", err)
				}
			}
			if asJSON {
				return r.WriteJSON(out)
			}
			if csvPath == "-" {
				return nil
			}
			return r.WriteText(out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Benchmark, "benchmark", o.Benchmark, "one of "+strings.Join(bench.Benchmarks, ", "))
	f.IntVar(&o.BurstSize, "burst-size", o.BurstSize, "workers in the burst")
	f.IntVar(&o.Groups, "groups", o.Groups, "groups (packs) of contiguous ranks")
	f.IntVar(&o.GroupID, "group-id", o.GroupID, "run this group only (-1: every group in this process)")
	f.IntVar(&o.PayloadSize, "payload-size", o.PayloadSize, "bytes per worker and operation")
	f.IntVar(&o.ChunkSize, "chunk-size", o.ChunkSize, "largest frame payload between groups")
	f.StringVar(&o.Server, "server", o.Server, "NATS server URL")
	f.BoolVar(&o.Embed, "embed", o.Embed, "start an embedded NATS server on --server's address")
	f.StringVar(&o.BurstID, "burst-id", o.BurstID, "burst id shared by the groups of one run")
	f.IntVar(&o.Repeat, "repeat", o.Repeat, "timed repeats")
	f.IntVar(&o.Warmup, "warmup", o.Warmup, "untimed repeats first")
	f.StringVar(&o.Lane, "lane", o.Lane, "move messages of 64 KiB and more between groups over direct lanes: unix or tcp (nats and memory backends)")
	f.StringVar(&o.LaneHost, "lane-host", o.LaneHost, "the address a group's tcp lane listens on and is dialed at; empty: this host's on the way to the NATS server")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "bound on the whole run, waiting for peer groups included")
	f.BoolVar(&asJSON, "json", false, "print a JSON summary instead of text")
	f.StringVar(&csvPath, "csv", "", "write a CSV row per worker and repeat to this file (- for stdout)")
	return cmd
}
