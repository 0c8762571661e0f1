package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// docBlocks returns the fenced code blocks of a Markdown file by language, each with
// its lines' backslash continuations joined.
func docBlocks(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string][]string{}
	for _, m := range regexp.MustCompile("(?ms)^```(\\w+)\n(.*?)^```").FindAllStringSubmatch(string(b), -1) {
		blocks[m[1]] = append(blocks[m[1]], strings.ReplaceAll(m[2], "\\\n", " "))
	}
	return blocks
}

// parses checks that args are a burst command whose flags parse, and returns the
// flags it was given.
func parses(t *testing.T, where string, args []string) map[string]string {
	t.Helper()
	var cfg config
	root := newRootCmd(&cfg)
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Errorf("%s: %q is no burst command: %v", where, args, err)
		return nil
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%s: burst %s: %v", where, cmd.Name(), err)
		return nil
	}
	flags := map[string]string{}
	for _, a := range rest {
		if k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "="); ok && strings.HasPrefix(a, "--") {
			flags[k] = v
		}
	}
	for i := 0; i+1 < len(rest); i++ {
		if strings.HasPrefix(rest[i], "--") && !strings.Contains(rest[i], "=") {
			flags[strings.TrimPrefix(rest[i], "--")] = rest[i+1]
		}
	}
	return flags
}

// shellFields splits a line of sh into words, as sh does for double quotes (enough for
// this page: no single quotes or escapes in the commands it checks).
func shellFields(line string) []string {
	var words []string
	var word strings.Builder
	quoted, in := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, in = !quoted, true
		case r == ' ' && !quoted:
			if in {
				words = append(words, word.String())
				word.Reset()
			}
			in = false
		default:
			word.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, word.String())
	}
	return words
}

// dockerRun splits the arguments of docker run into its image and the command: the
// first argument that is neither an option nor an option's value.
func dockerRun(args []string) (image string, cmd []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case !strings.HasPrefix(a, "-"):
			return a, args[i+1:]
		case a == "-d" || a == "--rm" || a == "-i" || a == "-t" || a == "-it" || strings.Contains(a, "="):
		default:
			i++ // the option's value
		}
	}
	return "", nil
}

// TestDeployDoc holds docs/deploy.md to the binary, since its docker, systemctl and
// kubectl lines cannot run here: its burst commands run (burst cert, into a temporary
// directory) or parse with burst's own command tree, as do the systemd units' ExecStart
// lines, the burst command inside its docker run and the StatefulSet's container args;
// the units name the certificates burst cert made; the Kubernetes manifests are YAML of
// a headless Service and a StatefulSet that names it, probing a real route.
func TestDeployDoc(t *testing.T) {
	blocks := docBlocks(t, "../../docs/deploy.md")
	dir := t.TempDir()
	made := map[string]bool{}
	for _, block := range blocks["sh"] {
		for line := range strings.Lines(block) {
			line, _, _ = strings.Cut(strings.TrimSpace(line), "#")
			fields := shellFields(line)
			switch {
			case len(fields) > 1 && fields[0] == "burst" && fields[1] == "cert":
				// Run, into a directory of the test's.
				args := fields[1:]
				for i := range args {
					if args[i] == "--dir" {
						args[i+1] = filepath.Join(dir, args[i+1])
					}
				}
				var out, errOut bytes.Buffer
				if code := run(t.Context(), args, nil, &out, &errOut); code != 0 {
					t.Errorf("%s: exit %d: %s", line, code, errOut.String())
				}
				for _, node := range args[len(args)-1:] {
					made[node+".pem"], made[node+"-key.pem"] = true, true
				}
			case len(fields) > 0 && fields[0] == "burst":
				parses(t, line, fields[1:])
			case len(fields) > 1 && fields[0] == "docker" && fields[1] == "run":
				image, args := dockerRun(fields[2:])
				if image != "burst" {
					t.Errorf("%s: runs image %q, not burst", line, image)
					continue
				}
				parses(t, line, args)
			}
		}
	}
	if len(made) != 6 {
		t.Errorf("burst cert made %v, want three nodes' certificates and keys", made)
	}
	if _, err := os.Stat(filepath.Join(dir, "certs", "ca.pem")); err != nil {
		t.Errorf("burst cert made no CA: %v", err)
	}

	units := 0
	for _, block := range blocks["ini"] {
		for line := range strings.Lines(block) {
			cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart=/usr/local/bin/burst ")
			if !ok {
				continue
			}
			units++
			flags := parses(t, "ExecStart", strings.Fields(cmd))
			for _, f := range []string{"nats-tls-cert", "nats-tls-key"} {
				if !made[strings.TrimPrefix(flags[f], "/etc/burst/")] {
					t.Errorf("ExecStart: --%s %s is not a file burst cert made", f, flags[f])
				}
			}
			if flags["nats-ca"] != "/etc/burst/ca.pem" {
				t.Errorf("ExecStart: --nats-ca %q", flags["nats-ca"])
			}
		}
	}
	if units != 2 {
		t.Errorf("%d systemd units, want the gateway's and the invoker's", units)
	}

	var kinds []string
	for _, block := range blocks["yaml"] {
		dec := yaml.NewDecoder(strings.NewReader(block))
		for {
			var doc struct {
				Kind     string
				Metadata struct{ Name string }
				Spec     struct {
					ClusterIP   string `yaml:"clusterIP"`
					ServiceName string `yaml:"serviceName"`
					Template    struct {
						Spec struct {
							Containers []struct {
								Args           []string
								ReadinessProbe struct {
									HTTPGet struct{ Path string } `yaml:"httpGet"`
								} `yaml:"readinessProbe"`
							}
						}
					}
				}
			}
			if err := dec.Decode(&doc); err != nil {
				break
			}
			kinds = append(kinds, doc.Kind+"/"+doc.Metadata.Name)
			switch doc.Kind {
			case "Service":
				if doc.Spec.ClusterIP != "None" {
					t.Errorf("service %s is not headless", doc.Metadata.Name)
				}
			case "StatefulSet":
				if doc.Spec.ServiceName != "burst-routes" {
					t.Errorf("StatefulSet's service %q", doc.Spec.ServiceName)
				}
				for _, c := range doc.Spec.Template.Spec.Containers {
					args := strings.ReplaceAll(strings.Join(c.Args, " "), "$(POD_NAME)", "burst-0")
					parses(t, "StatefulSet", strings.Fields(args))
					if c.ReadinessProbe.HTTPGet.Path != "/readyz" {
						t.Errorf("readiness probe %q", c.ReadinessProbe.HTTPGet.Path)
					}
				}
			}
		}
	}
	if strings.Join(kinds, " ") != "Service/burst-routes StatefulSet/burst" {
		t.Errorf("manifests %v", kinds)
	}
}
