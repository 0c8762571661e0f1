package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"golang.org/x/term"

	"github.com/burstgo/burst/client"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/gateway"
)

// The client commands: burst flare, burst invokers; they share --api, --key, --ca and
// -o (clientFlags).

// clientFlags binds the flags of a command that talks to the API, and returns the
// client they make.
func clientFlags(cmd *cobra.Command, cfg *config) func() (*client.Client, error) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&cfg.API, "api", cfg.API, "the gateway's URL (BURST_API)")
	fs.StringVar(&cfg.Key, "key", cfg.Key, "API key to send (BURST_KEY)")
	fs.StringVar(&cfg.CA, "ca", cfg.CA, "CA file to check an https API's certificate against (BURST_CA)")
	return func() (*client.Client, error) { return newClient(*cfg) }
}

// output is -o: json, yaml or table (the default, for people).
type output struct{ format string }

func (o *output) flag(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVarP(&o.format, "output", "o", "table", "table, json or yaml")
}

// print writes v as o says; table writes the table form.
func (o output) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	switch o.format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		return writeYAML(w, v)
	case "table", "":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
	return fmt.Errorf("-o %q: want table, json or yaml", o.format)
}

func newFlareCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flare",
		Short: "Run, watch and inspect flares",
	}
	api := clientFlags(cmd, cfg)
	var out output
	out.flag(cmd)
	cmd.AddCommand(newFlareRunCmd(api, &out), newFlareGetCmd(api, &out), newFlareLsCmd(api, &out),
		newFlareResultsCmd(api, &out), newFlareLogsCmd(api), newFlareCancelCmd(api, &out), newFlareWatchCmd(api))
	return cmd
}

func newFlareRunCmd(api func() (*client.Client, error), out *output) *cobra.Command {
	var size, granularity int
	var input, inputs, backend string
	var timeout time.Duration
	var detach, join bool
	cmd := &cobra.Command{
		Use:   "run FUNCTION",
		Short: "Run a flare and wait for it, with its progress; print its results",
		Long: `Run starts a flare of FUNCTION and, unless --detach, follows it: a progress bar of its
workers on a terminal, a line per event otherwise; then it prints the results (-o).
It exits 1 when the flare did not succeed. Ctrl-C asks whether to cancel the flare or
leave it running.

--input is every worker's input: JSON, @FILE for a file's, or - for standard input's.
--inputs FILE holds one input per rank: a JSON array, or one JSON value a line.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			req := gateway.FlareRequest{Function: args[0], Backend: control.Backend(backend)}
			if cmd.Flags().Changed("size") {
				req.Size = &size
			}
			if cmd.Flags().Changed("granularity") {
				req.Granularity = &granularity
			}
			if cmd.Flags().Changed("join") {
				req.Join = &join
			}
			if timeout > 0 {
				d := control.Duration(timeout)
				req.Timeout = &d
			}
			if req.Input, err = readInput(input, cmd.InOrStdin()); err != nil {
				return err
			}
			if inputs != "" {
				if req.Inputs, err = readInputs(inputs); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			rec, err := c.RunFlare(ctx, req, false)
			if err != nil {
				return err
			}
			if detach {
				fmt.Fprintln(cmd.OutOrStdout(), rec.ID)
				return nil
			}
			final, err := follow(ctx, c, rec, cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr()))
			if errors.Is(err, errInterrupted) {
				return leaveOrCancel(c, rec.ID, cmd.InOrStdin(), cmd.ErrOrStderr())
			}
			if err != nil {
				return err
			}
			res, err := c.Results(context.WithoutCancel(ctx), rec.ID)
			if err != nil {
				return err
			}
			if err := printResults(cmd.OutOrStdout(), *out, res); err != nil {
				return err
			}
			if final.Status != control.StatusSucceeded {
				fmt.Fprintf(cmd.ErrOrStderr(), "flare %s %s: %s\n", final.ID, final.Status, final.Error)
				return exitCode(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&size, "size", 1, "workers")
	f.IntVar(&granularity, "granularity", 0, "workers per pack; default the size, one pack")
	f.StringVar(&input, "input", "", "every worker's input: JSON, @FILE or - (standard input)")
	f.StringVar(&inputs, "inputs", "", "file of one input per rank: a JSON array, or a JSON value a line")
	f.StringVar(&backend, "backend", "", "nats (default), jetstream or memory")
	f.BoolVar(&join, "join", false, "run the packs placed on one invoker as one (--join=false: apart); default the gateway's")
	f.DurationVar(&timeout, "timeout", 0, "the flare's timeout; default the gateway's")
	f.BoolVar(&detach, "detach", false, "print the flare's id and return at once")
	return cmd
}

// readInput reads --input: JSON, @FILE or - for r.
func readInput(v string, r io.Reader) (json.RawMessage, error) {
	var b []byte
	var err error
	switch {
	case v == "":
		return nil, nil
	case v == "-":
		b, err = io.ReadAll(r)
	case strings.HasPrefix(v, "@"):
		b, err = os.ReadFile(v[1:])
	default:
		b = []byte(v)
	}
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("--input is not JSON: %s", clipText(string(b)))
	}
	return json.RawMessage(b), nil
}

// readInputs reads --inputs: a JSON array, or one JSON value a line.
func readInputs(path string) ([]json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--inputs: %w", err)
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err == nil {
		return arr, nil
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !json.Valid([]byte(line)) {
			return nil, fmt.Errorf("--inputs %s, line %d: not JSON: %s", path, n, clipText(line))
		}
		arr = append(arr, json.RawMessage(line))
	}
	return arr, sc.Err()
}

func clipText(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

var errInterrupted = errors.New("interrupted")

// follow follows a flare's events until it ends, drawing its progress on w, and returns
// its final record; errInterrupted if ctx ended first (Ctrl-C).
func follow(ctx context.Context, c *client.Client, rec gateway.Record, w io.Writer, tty bool) (gateway.Record, error) {
	p := progress{size: rec.Size, w: w, tty: tty}
	for ev, err := range c.Events(ctx, rec.ID) {
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			return gateway.Record{}, err
		}
		p.apply(ev)
	}
	p.done()
	if ctx.Err() != nil {
		return gateway.Record{}, errInterrupted
	}
	return c.Flare(ctx, rec.ID)
}

// progress counts a flare's workers from its events.
type progress struct {
	size                       int
	started, succeeded, failed int
	w                          io.Writer
	tty                        bool
	drawn                      bool
}

func (p *progress) apply(ev client.Event) {
	switch ev.Name {
	case "record":
		var rec gateway.Record
		if json.Unmarshal(ev.Data, &rec) == nil {
			p.started, p.succeeded, p.failed = 0, 0, 0
			for _, w := range rec.Workers {
				p.count(w.Status, !w.Start.IsZero())
			}
		}
	case "started", "workers", "ended":
		var e control.Event
		if json.Unmarshal(ev.Data, &e) != nil {
			return
		}
		for _, w := range e.Workers {
			p.count(w.Status, ev.Name == "started")
		}
		if !p.tty {
			fmt.Fprintf(p.w, "pack %d on %s: %s %s\n", e.Pack, e.Invoker, ev.Name, e.Status)
		}
	case "placed":
		var rec gateway.Record
		if json.Unmarshal(ev.Data, &rec) == nil && !p.tty {
			fmt.Fprintf(p.w, "flare placed: %d packs\n", len(rec.Packs))
		}
	case "status":
		if !p.tty {
			fmt.Fprintf(p.w, "flare: %s\n", ev.Data)
		}
	case "end":
		var rec gateway.Record
		if json.Unmarshal(ev.Data, &rec) == nil && !p.tty {
			fmt.Fprintf(p.w, "flare %s %s\n", rec.ID, rec.Status)
		}
	}
	if p.tty {
		p.draw()
	}
}

func (p *progress) count(s control.Status, started bool) {
	switch {
	case s == control.StatusSucceeded:
		p.succeeded++
	case s.Final() || s == control.StatusAborted:
		p.failed++
	case started || s == control.StatusRunning:
		p.started++
	}
}

// draw redraws the bar in place: queued, running, succeeded, failed.
func (p *progress) draw() {
	const width = 30
	ended := p.succeeded + p.failed
	running := max(0, p.started-ended)
	if p.started < ended {
		running = 0
	}
	queued := max(0, p.size-running-ended)
	n := 0
	if p.size > 0 {
		n = width * ended / p.size
	}
	fmt.Fprintf(p.w, "\r[%s%s] queued %d  running %d  succeeded %d  failed %d ",
		strings.Repeat("#", n), strings.Repeat(".", width-n), queued, running, p.succeeded, p.failed)
	p.drawn = true
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// leaveOrCancel asks, after Ctrl-C, whether to cancel the flare or leave it running; on
// a terminal it reads the answer, otherwise it leaves it.
func leaveOrCancel(c *client.Client, id string, in io.Reader, w io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(w, "cancel flare %s? [y/N] ", id)
		answer, _ := bufio.NewReader(in).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a == "y" || a == "yes" {
			rec, err := c.CancelFlare(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "flare %s %s\n", id, rec.Status)
			return exitCode(1)
		}
	}
	fmt.Fprintf(w, "flare %s runs on: burst flare watch %s, or burst flare cancel %s\n", id, id, id)
	return exitCode(130)
}

func printResults(w io.Writer, out output, res gateway.FlareResults) error {
	return out.print(w, res, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "RANK\tRESULT")
		for i, r := range res.Results {
			b, _ := json.Marshal(r)
			fmt.Fprintf(tw, "%d\t%s\n", i, b)
		}
	})
}

func printRecord(w io.Writer, out output, rec gateway.Record) error {
	return out.print(w, rec, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "ID\t%s\nNAMESPACE\t%s\nFUNCTION\t%s\nSTATUS\t%s\nSIZE\t%d\nGRANULARITY\t%d\nBACKEND\t%s\nCREATED\t%s\n",
			rec.ID, rec.Namespace, rec.Function, rec.Status, rec.Size, rec.Granularity, rec.Backend, rec.Created.Format(time.RFC3339))
		if !rec.Ended.IsZero() {
			fmt.Fprintf(tw, "DURATION\t%s\n", rec.Ended.Sub(rec.Created).Round(time.Millisecond))
		}
		if rec.Error != "" {
			fmt.Fprintf(tw, "ERROR\t%s\n", rec.Error)
		}
		for _, p := range rec.Packs {
			fmt.Fprintf(tw, "PACK %d\t%s, ranks %d-%d", p.Pack, p.Invoker, p.Ranks[0], p.Ranks[1])
			if rec.Join && len(p.Joined) > 1 {
				fmt.Fprintf(tw, ", joined from packs %v", p.Joined)
			}
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "COMM\tlocal %d msgs %d B, remote %d msgs %d B (%d B over lanes)\n", rec.Comm.LocalMessages, rec.Comm.LocalBytes, rec.Comm.RemoteMessages, rec.Comm.RemoteBytes, rec.Comm.LaneBytes)
	})
}

// oneCmd is a command of one argument (a flare's id, a function's name) that reads
// something of it through the client and prints it.
func oneCmd[T any](use, short string, api func() (*client.Client, error),
	get func(c *client.Client, ctx context.Context, arg string) (T, error), print func(w io.Writer, v T) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			v, err := get(c, cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return print(cmd.OutOrStdout(), v)
		},
	}
}

func newFlareGetCmd(api func() (*client.Client, error), out *output) *cobra.Command {
	return oneCmd("get ID", "Print a flare's record", api, (*client.Client).Flare,
		func(w io.Writer, rec gateway.Record) error { return printRecord(w, *out, rec) })
}

func newFlareLsCmd(api func() (*client.Client, error), out *output) *cobra.Command {
	var q client.FlareQuery
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List flares, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			l, err := c.Flares(cmd.Context(), q)
			if err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), l, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tFUNCTION\tSTATUS\tSIZE\tG\tBACKEND\tCREATED\tDURATION")
				for _, r := range l.Flares {
					d := "-"
					if !r.Ended.IsZero() {
						d = r.Ended.Sub(r.Created).Round(time.Millisecond).String()
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.ID, r.Function, r.Status, r.Size, r.Granularity, r.Backend,
						r.Created.Format(time.RFC3339), d)
				}
				if l.Next != "" {
					fmt.Fprintf(tw, "more: --cursor %s\n", l.Next)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Status, "status", "", "only flares of this status")
	f.StringVar(&q.Function, "function", "", "only flares of this function")
	f.IntVar(&q.Limit, "limit", 0, "at most this many (default the gateway's, 100)")
	f.StringVar(&q.Cursor, "cursor", "", "start at this cursor of an earlier list")
	return cmd
}

func newFlareResultsCmd(api func() (*client.Client, error), out *output) *cobra.Command {
	return oneCmd("results ID", "Print a flare's results, one per rank", api, (*client.Client).Results,
		func(w io.Writer, res gateway.FlareResults) error { return printResults(w, *out, res) })
}

func newFlareLogsCmd(api func() (*client.Client, error)) *cobra.Command {
	var rank int
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a flare's log lines; -f follows them until the flare ends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			print := func(lines []control.LogLine) {
				for _, l := range lines {
					if rank >= 0 && l.Rank != rank {
						continue
					}
					fmt.Fprintf(w, "%s rank %d %s %s", l.Time.Format(time.RFC3339Nano), l.Rank, l.Level, l.Message)
					for k, v := range l.Attrs {
						fmt.Fprintf(w, " %s=%s", k, v)
					}
					fmt.Fprintln(w)
				}
			}
			if !follow {
				logs, err := c.Logs(cmd.Context(), args[0], rank)
				if err != nil {
					return err
				}
				print(logs.Lines)
				return nil
			}
			for ev, err := range c.Events(cmd.Context(), args[0]) {
				if err != nil {
					return err
				}
				switch ev.Name {
				case "record":
					// The lines before the stream began.
					logs, err := c.Logs(cmd.Context(), args[0], rank)
					if err != nil {
						return err
					}
					print(logs.Lines)
				case "logs":
					var e control.Event
					if json.Unmarshal(ev.Data, &e) == nil {
						print(e.Lines)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&rank, "rank", -1, "only this rank's lines")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the lines until the flare ends")
	return cmd
}

func newFlareCancelCmd(api func() (*client.Client, error), out *output) *cobra.Command {
	return oneCmd("cancel ID", "Cancel a flare", api, (*client.Client).CancelFlare,
		func(w io.Writer, rec gateway.Record) error { return printRecord(w, *out, rec) })
}

func newFlareWatchCmd(api func() (*client.Client, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a flare's progress until it ends; exit 1 unless it succeeded",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			rec, err := c.Flare(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			final, err := follow(cmd.Context(), c, rec, cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr()))
			if errors.Is(err, errInterrupted) {
				return exitCode(130)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", final.ID, final.Status)
			if final.Status != control.StatusSucceeded {
				return exitCode(1)
			}
			return nil
		},
	}
}

func newInvokersCmd(cfg *config) *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use:   "invokers",
		Short: "List the invokers: status, slots, packs, heartbeat",
		Args:  cobra.NoArgs,
	}
	api := clientFlags(cmd, cfg)
	out.flag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := api()
		if err != nil {
			return err
		}
		invs, err := c.Invokers(cmd.Context())
		if err != nil {
			return err
		}
		return out.print(cmd.OutOrStdout(), invs, func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "ID\tSTATUS\tHOST\tSLOTS\tUSED\tPACKS\tISOLATION\tHEARTBEAT")
			for _, i := range invs {
				age := "-"
				if !i.LastHeartbeat.IsZero() {
					age = time.Since(i.LastHeartbeat).Round(time.Millisecond).String() + " ago"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", i.ID, i.Status, i.Host, i.Slots, i.Used, i.Packs, i.Isolation, age)
			}
		})
	}
	return cmd
}

// writeYAML writes v, as its JSON form says it, in YAML: the same keys as -o json.
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var tree yaml.Node
	if err := yaml.Unmarshal(b, &tree); err != nil { // JSON is YAML
		return err
	}
	// JSON's style (flow, quoted) made plain, as people read YAML; the encoder still
	// quotes a string that would read as something else.
	var unflow func(n *yaml.Node)
	unflow = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			unflow(c)
		}
	}
	unflow(&tree)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&tree); err != nil {
		return err
	}
	return enc.Close()
}
