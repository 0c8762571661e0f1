package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/burstgo/burst/client"
	"github.com/burstgo/burst/datasets"
)

// newDatasetCmds adds the commands of datasets stored in the cluster to burst data:
// put, ls, get, cat and rm.
func newDatasetCmds(cmd *cobra.Command, cfg *config) {
	api := func() (*client.Client, error) { return newClient(*cfg) }
	var out output
	printInfo := func(w io.Writer, d datasets.Info) error {
		return out.print(w, d, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "NAME\t%s\nNAMESPACE\t%s\nSIZE\t%s (%d bytes)\nSHA256\t%s\nVERSION\t%s\nCREATED\t%s\n",
				d.Name, d.Namespace, byteSize(d.Size), d.Size, d.SHA256, d.Version, d.Created.Format(time.RFC3339))
		})
	}
	put := &cobra.Command{
		Use:   "put NAME FILE",
		Short: "Store FILE in the cluster as dataset NAME, which an app's input names as {\"dataset\": NAME}",
		Long: `Streams FILE to the gateway, which stores it in the cluster's JetStream in chunks;
a flare's workers read their byte ranges of it from whichever host they run on. A
dataset of the same name is replaced once all of FILE is stored. Progress goes to
standard error.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			f, err := os.Open(args[1])
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			if !st.Mode().IsRegular() {
				return fmt.Errorf("%s is not a regular file", args[1])
			}
			p := newUploadProgress(cmd.ErrOrStderr(), args[0], st.Size(), isTerminal(cmd.ErrOrStderr()))
			body := &countReader{r: f, n: &p.sent}
			stop := p.start()
			info, err := c.PutDataset(cmd.Context(), args[0], body, st.Size())
			stop(err == nil)
			if err != nil {
				return err
			}
			return printInfo(cmd.OutOrStdout(), info)
		},
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the datasets of the key's namespace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			list, err := c.Datasets(cmd.Context())
			if err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), list, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tSIZE\tSHA256\tCREATED")
				for _, d := range list {
					fmt.Fprintf(tw, "%s\t%s\t%.12s\t%s\n", d.Name, byteSize(d.Size), d.SHA256, d.Created.Format(time.RFC3339))
				}
			})
		},
	}
	get := oneCmd("get NAME", "Print a dataset's manifest", api, (*client.Client).Dataset, printInfo)
	cat := &cobra.Command{
		Use:   "cat NAME",
		Short: "Write a dataset's bytes to standard output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			body, err := c.DatasetContent(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer body.Close()
			_, err = io.Copy(cmd.OutOrStdout(), body)
			return err
		},
	}
	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Delete a dataset",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			d, err := c.DeleteDataset(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "deleted dataset %s (%s)\n", d.Name, byteSize(d.Size))
			return nil
		},
	}
	for _, c := range []*cobra.Command{put, ls, get, cat, rm} {
		clientFlags(c, cfg)
		out.flag(c)
		cmd.AddCommand(c)
	}
}

// A countReader counts what it reads into n, for a progress line read elsewhere.
type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// uploadProgress draws an upload's progress: on a terminal a line redrawn four times a
// second, else a line every ten seconds; and a last line when it ends.
type uploadProgress struct {
	w     io.Writer
	name  string
	size  int64
	tty   bool
	sent  atomic.Int64
	began time.Time
}

func newUploadProgress(w io.Writer, name string, size int64, tty bool) *uploadProgress {
	return &uploadProgress{w: w, name: name, size: size, tty: tty}
}

// start draws until the returned stop is called, with whether the upload succeeded.
func (p *uploadProgress) start() (stop func(ok bool)) {
	p.began = time.Now()
	every := 10 * time.Second
	if p.tty {
		every = 250 * time.Millisecond
	}
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.draw(false)
			}
		}
	}()
	return func(ok bool) {
		close(done)
		<-ended
		if ok {
			p.draw(true)
		} else if p.tty {
			fmt.Fprintln(p.w)
		}
	}
}

func (p *uploadProgress) draw(last bool) {
	sent := p.sent.Load()
	took := time.Since(p.began)
	rate := float64(sent) / max(took.Seconds(), 1e-9)
	line := fmt.Sprintf("%s: %s of %s (%d%%), %s/s", p.name, byteSize(sent), byteSize(p.size), percent(sent, p.size), byteSize(int64(rate)))
	switch {
	case last:
		line = fmt.Sprintf("%s: stored %s in %s (%s/s)", p.name, byteSize(sent), took.Round(time.Millisecond), byteSize(int64(rate)))
	case sent == p.size:
		line += ", storing the last chunks"
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		if last {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintln(p.w, line)
}

func percent(n, of int64) int64 {
	if of <= 0 {
		return 100
	}
	return n * 100 / of
}

// byteSize writes n bytes for people: 512 B, 1.5 KiB, 3.0 GiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
