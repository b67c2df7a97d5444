package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	cc "carechain"
	"carechain/client"
)

// ingestFile is one file to ingest, as scanned before anything is sent.
type ingestFile struct {
	Path      string
	Type      string         // the top-level resourceType ("Bundle" or a resource type)
	Resources int            // a Bundle's entries; 1 for a single resource
	ByType    map[string]int // the entries' resource types
	Patients  int            // Patient resources in the file
	Directory bool           // a provider directory bundle: sent first, without a patient
}

// directoryRank orders Synthea's provider directory bundles before the
// patient bundles that refer to them: hospitals (Organization, Location)
// first, then practitioners (Practitioner, PractitionerRole, which refer to
// the hospitals), then everything else.
func directoryRank(path string) int {
	b := filepath.Base(path)
	switch {
	case strings.HasPrefix(b, "hospitalInformation"):
		return 0
	case strings.HasPrefix(b, "practitionerInformation"):
		return 1
	}
	return 2
}

// isDirectoryFile reports whether path is a provider directory bundle.
func isDirectoryFile(path string) bool { return directoryRank(path) < 2 }

// orderIngestFiles returns paths without duplicates, directory bundles
// first (see directoryRank), each group sorted by path.
func orderIngestFiles(paths []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := directoryRank(out[i]), directoryRank(out[j])
		if ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

// collectIngestFiles expands the command's arguments: a file is taken as
// given, a folder is walked for *.json files. The result is ordered by
// orderIngestFiles.
func collectIngestFiles(args []string) ([]string, error) {
	var paths []string
	for _, a := range args {
		st, err := os.Stat(a)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, cc.Errorf("ingest", cc.NotFound, "%s does not exist", a)
		}
		if err != nil {
			return nil, cc.Errorf("ingest", cc.Invalid, "%v", err)
		}
		if !st.IsDir() {
			paths = append(paths, filepath.Clean(a))
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".json") {
				paths = append(paths, filepath.Clean(p))
			}
			return nil
		})
		if err != nil {
			return nil, cc.Errorf("ingest", cc.Invalid, "reading %s: %v", a, err)
		}
	}
	return orderIngestFiles(paths), nil
}

// scanIngestFile decodes path once to count its resources. ok is false for
// JSON that is not a FHIR resource (no top-level resourceType, e.g. a
// manifest): such files are skipped. Invalid JSON is cc.Malformed.
func scanIngestFile(path string) (f ingestFile, ok bool, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return f, false, cc.Errorf("ingest", cc.Invalid, "%v", err)
	}
	defer fh.Close()
	var top struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
			} `json:"resource"`
		} `json:"entry"`
	}
	derr := json.NewDecoder(bufio.NewReaderSize(fh, 1<<16)).Decode(&top)
	var typeErr *json.UnmarshalTypeError
	switch {
	case derr != nil && errors.As(derr, &typeErr) && top.ResourceType == "":
		return f, false, nil // JSON, but not an object with a resourceType
	case derr != nil:
		return f, false, cc.Errorf("ingest", cc.Malformed, "not valid FHIR JSON: %v", derr)
	case top.ResourceType == "":
		return f, false, nil
	}
	f = ingestFile{Path: path, Type: top.ResourceType, ByType: map[string]int{}, Directory: isDirectoryFile(path)}
	if top.ResourceType != "Bundle" {
		f.Resources = 1
		f.ByType[top.ResourceType] = 1
		if top.ResourceType == "Patient" {
			f.Patients = 1
		}
		return f, true, nil
	}
	f.Resources = len(top.Entry)
	for _, e := range top.Entry {
		t := e.Resource.ResourceType
		if t == "" {
			t = "(no resource)"
		}
		f.ByType[t]++
		if t == "Patient" {
			f.Patients++
		}
	}
	return f, true, nil
}

// ingestFileResult is the outcome of one file.
type ingestFileResult struct {
	File      string `json:"file"`
	Type      string `json:"resource_type"`
	Resources int    `json:"resources"` // in the file
	Patient   cc.DID `json:"patient,omitempty"`
	ClaimCode string `json:"claim_code,omitempty"` // --custodial: the one-time code to hand to the person
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Existing  int    `json:"existing"`
	Height    int64  `json:"height,omitempty"`
	Error     string `json:"error,omitempty"`

	err    error
	byType map[string]int
}

// ingestReport is the summary of `carechain ingest`.
type ingestReport struct {
	Files              int                `json:"files"`  // ingested without error
	Failed             int                `json:"failed"` // files that failed
	Skipped            []string           `json:"skipped"`
	Resources          int                `json:"resources"` // created + updated + existing
	Created            int                `json:"created"`
	Updated            int                `json:"updated"`
	Existing           int                `json:"existing"`
	ByType             map[string]int     `json:"by_type"`  // created or updated, by resource type
	InFiles            map[string]int     `json:"in_files"` // entries by resource type in the files sent
	Height             int64              `json:"height,omitempty"`
	ElapsedSeconds     float64            `json:"elapsed_seconds"`
	ResourcesPerSecond float64            `json:"resources_per_second"`
	Results            []ingestFileResult `json:"results"`
}

type ingestOptions struct {
	keys      keyFlags
	key       string
	org       string
	patient   string
	custodial bool
	workers   int
	timeout   time.Duration
}

func newIngestCmd(g *globals) *cobra.Command {
	o := &ingestOptions{}
	c := &cobra.Command{
		Use:   "ingest PATH... --key NAME --org ORG [--patient DID]",
		Short: "Store FHIR R4 files (Bundles or single resources) with a custodian organization's gatekeeper",
		Long: `ingest sends FHIR R4 JSON files to the gatekeeper of the custodian organization ORG
on --node, signed by --key (a practitioner of ORG). PATH is a file or a folder
(walked for *.json). A Bundle is posted to /fhir, a single resource to
/fhir/{resourceType}; JSON without a top-level resourceType (a manifest) is
skipped with a warning.

Synthea's provider directory bundles (hospitalInformation*.json, then
practitionerInformation*.json) are sent first and alone, as the patient
bundles refer to them; the other files follow, --workers at a time.

A bundle that holds a Patient needs the DID of the patient it belongs to:
--patient DID applies to every file except the directory bundles. Without it
the node refuses such a bundle.

A failed file is reported as "FILE: error" on standard error and the others
continue; the exit code is then that of the first failed file.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return g.ingest(o, args) },
	}
	o.keys.register(c)
	c.Flags().StringVar(&o.key, "key", "", "keystore name of the practitioner who submits the records")
	c.Flags().StringVar(&o.org, "org", "", "custodian organization id (whose gatekeeper stores the records)")
	c.Flags().StringVar(&o.patient, "patient", "", "DID of the patient the patient bundles belong to")
	c.Flags().BoolVar(&o.custodial, "custodial", false, "for people without a DID: the custodian creates a custodial patient DID per file that holds a Patient and answers a one-time claim code to hand to the person (carechain claim)")
	c.Flags().IntVar(&o.workers, "workers", 8, "files sent at the same time (a bundle waits about two blocks for its anchors: one node ingests fastest with 8–12 in flight)")
	c.Flags().DurationVar(&o.timeout, "timeout", 10*time.Minute, "time allowed for one file")
	return c
}

func (g *globals) ingest(o *ingestOptions, args []string) error {
	if g.output != "text" && g.output != "json" {
		return usageError{fmt.Errorf("--output must be text or json, not %q", g.output)}
	}
	if o.key == "" || o.org == "" {
		return usageError{fmt.Errorf("--key NAME and --org ORG are required")}
	}
	if !cc.ValidOrgID(o.org) {
		return usageError{fmt.Errorf("--org %q is not an organization id", o.org)}
	}
	patient := cc.DID(o.patient)
	if o.patient != "" && !patient.Valid() {
		return usageError{fmt.Errorf("--patient %q is not a DID (did:cc:…)", o.patient)}
	}
	if o.patient != "" && o.custodial {
		return usageError{fmt.Errorf("--patient and --custodial exclude each other: a custodial ingest creates the patient's DID")}
	}
	if o.workers < 1 {
		return usageError{fmt.Errorf("--workers must be at least 1")}
	}
	paths, err := collectIngestFiles(args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usageError{fmt.Errorf("no *.json files in %s", strings.Join(args, ", "))}
	}
	k, err := o.keys.unlock(o.key)
	if err != nil {
		return err
	}
	c := client.New(g.node)
	c.HTTP.Timeout = o.timeout
	signer := client.NewSigner(k.DID, k.PrivateKey())
	{
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := c.ChainID(ctx)
		cancel()
		if err != nil {
			return err
		}
	}

	// Scan every file first: the totals drive the progress bar.
	rep := &ingestReport{Skipped: []string{}, ByType: map[string]int{}, InFiles: map[string]int{}}
	var files []ingestFile
	var results []ingestFileResult
	var total int64
	withPatient := 0
	for _, p := range paths {
		f, ok, err := scanIngestFile(p)
		switch {
		case err != nil:
			fmt.Fprintf(os.Stderr, "%s: %s\n", p, briefError(err))
			results = append(results, ingestFileResult{File: p, Error: err.Error(), err: err})
			continue
		case !ok:
			fmt.Fprintf(os.Stderr, "warning: %s: skipped: not a FHIR resource (no top-level resourceType)\n", p)
			rep.Skipped = append(rep.Skipped, p)
			continue
		}
		if !f.Directory && f.Patients > 0 {
			withPatient++
		}
		files = append(files, f)
		total += int64(f.Resources)
	}
	if patient != "" && withPatient > 1 {
		fmt.Fprintf(os.Stderr, "warning: --patient %s applies to all %d files that hold a Patient\n", patient, withPatient)
	}

	start := time.Now()
	visible := term.IsTerminal(int(os.Stderr.Fd())) && total > 0
	var bar *progressbar.ProgressBar
	if visible {
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetDescription("ingesting"),
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("resources"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
		bar.StartWithoutRender() // the rate counts from now, not from the first file's end
	}
	var mu sync.Mutex // stderr and the bar
	barMax := total
	var down atomic.Bool // the node stopped answering: send nothing more
	sent := make([]ingestFileResult, len(files))
	one := func(i int) {
		f := files[i]
		r := ingestFileResult{File: f.Path, Type: f.Type, Resources: f.Resources}
		if !f.Directory {
			r.Patient = patient
		}
		quiet := down.Load()
		if quiet {
			r.err = &cc.Error{Op: "ingest", Kind: cc.Unavailable, Msg: "not sent: the node stopped answering", Err: client.ErrUnreachable}
		} else {
			r.err = ingestOne(c, signer, o, f, r.Patient, &r)
		}
		if r.err != nil {
			r.Error = r.err.Error()
			if errors.Is(r.err, client.ErrUnreachable) {
				down.Store(true)
			}
		}
		sent[i] = r
		mu.Lock()
		defer mu.Unlock()
		if r.err != nil && !quiet {
			if bar != nil {
				bar.Clear()
			}
			fmt.Fprintf(os.Stderr, "%s: %s\n", f.Path, briefError(r.err))
		}
		if bar != nil {
			if r.err != nil {
				barMax -= int64(f.Resources)
				bar.ChangeMax64(barMax)
			} else {
				bar.Add(f.Resources)
			}
		}
	}
	// The directory bundles go first, one at a time, in order; then the
	// rest, --workers at a time.
	next := 0
	for next < len(files) && files[next].Directory {
		one(next)
		next++
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(o.workers, len(files)-next) {
		wg.Go(func() {
			for i := range jobs {
				one(i)
			}
		})
	}
	for i := next; i < len(files); i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if bar != nil {
		bar.Exit()
		fmt.Fprintln(os.Stderr)
	}
	elapsed := time.Since(start)

	// Results in file order; the first error decides the exit code.
	results = append(results, sent...)
	sort.SliceStable(results, func(i, j int) bool {
		ri, rj := directoryRank(results[i].File), directoryRank(results[j].File)
		if ri != rj {
			return ri < rj
		}
		return results[i].File < results[j].File
	})
	var first *ingestFileResult
	for i := range results {
		r := &results[i]
		if r.err != nil {
			rep.Failed++
			if first == nil {
				first = r
			}
			continue
		}
		rep.Files++
		rep.Created += r.Created
		rep.Updated += r.Updated
		rep.Existing += r.Existing
		rep.Height = max(rep.Height, r.Height)
		for t, n := range r.byType {
			rep.ByType[t] += n
		}
	}
	for i, f := range files {
		if sent[i].err == nil {
			for t, n := range f.ByType {
				rep.InFiles[t] += n
			}
		}
	}
	rep.Resources = rep.Created + rep.Updated + rep.Existing
	rep.Results = results
	if rep.Results == nil {
		rep.Results = []ingestFileResult{}
	}
	rep.ElapsedSeconds = elapsed.Seconds()
	if elapsed > 0 {
		rep.ResourcesPerSecond = float64(rep.Resources) / elapsed.Seconds()
	}
	if err := g.emit(rep, func(w io.Writer) { printIngestReport(w, rep, elapsed) }); err != nil {
		return err
	}
	if first != nil {
		// Each failure is on standard error already: name the first, whose
		// kind is the exit code.
		return &briefWrap{msg: fmt.Sprintf("%d of %d files failed (exit code of the first: %s)", rep.Failed, len(results), first.File), err: first.err}
	}
	return nil
}

// ingestOne reads and sends one file, filling r's counts.
func ingestOne(c *client.Client, s *client.Signer, o *ingestOptions, f ingestFile, patient cc.DID, r *ingestFileResult) error {
	body, err := os.ReadFile(f.Path)
	if err != nil {
		return cc.Errorf("ingest", cc.Invalid, "%v", err)
	}
	typ := ""
	if f.Type != "Bundle" {
		typ = f.Type
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	var sum *client.IngestSummary
	if o.custodial && f.Patients > 0 {
		sum, err = c.IngestCustodial(ctx, s, o.org, body)
	} else {
		sum, err = c.Ingest(ctx, s, o.org, patient, typ, body)
	}
	if err != nil {
		return err
	}
	if sum.ClaimCode != "" {
		r.Patient, r.ClaimCode = sum.Patient, sum.ClaimCode
	}
	r.Created, r.Updated, r.Existing, r.Height, r.byType = sum.Created, sum.Updated, sum.Existing, sum.Height, sum.ByType
	return nil
}

func printIngestReport(w io.Writer, rep *ingestReport, elapsed time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "files\t%d ingested, %d failed, %d skipped\n", rep.Files, rep.Failed, len(rep.Skipped))
	fmt.Fprintf(tw, "resources\t%d: %d created, %d updated, %d existing\n", rep.Resources, rep.Created, rep.Updated, rep.Existing)
	if rep.Height > 0 {
		fmt.Fprintf(tw, "height\t%d\n", rep.Height)
	}
	fmt.Fprintf(tw, "elapsed\t%s (%.0f resources/s)\n", elapsed.Round(time.Millisecond), rep.ResourcesPerSecond)
	for _, r := range rep.Results {
		if r.ClaimCode != "" {
			fmt.Fprintf(tw, "custodial DID\t%s for %s: claim code %s (hand it to the person: carechain claim %s --code …)\n", r.Patient, filepath.Base(r.File), r.ClaimCode, r.Patient)
		}
	}
	tw.Flush()
	types := make([]string, 0, len(rep.InFiles))
	for t := range rep.InFiles {
		types = append(types, t)
	}
	for t := range rep.ByType {
		if _, ok := rep.InFiles[t]; !ok {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		return
	}
	sort.Strings(types)
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TYPE\tIN FILES\tNEW OR UPDATED\n")
	for _, t := range types {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", t, rep.InFiles[t], rep.ByType[t])
	}
	tw.Flush()
}

// maxIssues is how many of an error's "; "-separated issues (a FHIR
// OperationOutcome can list hundreds) are shown on the terminal; the JSON
// summary keeps them all.
const maxIssues = 5

// briefError renders err with at most maxIssues issues.
func briefError(err error) string {
	msg := err.Error()
	issues := strings.Split(msg, "; ")
	if len(issues) <= maxIssues {
		return msg
	}
	return fmt.Sprintf("%s; … and %d more", strings.Join(issues[:maxIssues], "; "), len(issues)-maxIssues)
}

// briefWrap is an error with a shortened message that keeps the kind (and
// so the exit code) of the error it wraps.
type briefWrap struct {
	msg string
	err error
}

func (b *briefWrap) Error() string { return b.msg }
func (b *briefWrap) Unwrap() error { return b.err }
