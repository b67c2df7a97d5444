// Command carechain runs and uses a carechain node: a permissioned,
// Byzantine-fault-tolerant ledger for patient-centric health records and
// population health. See `carechain --help` and README.md.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/client"
)

// Exit codes. They are part of the CLI's contract (documented in README).
const (
	exitOK           = 0
	exitInternal     = 1
	exitUsage        = 2
	exitInvalid      = 3 // malformed or invalid input, wrong chain, unknown type
	exitUnauthorized = 4 // bad signature, unknown signer, not allowed, wrong passphrase
	exitNotFound     = 5
	exitConflict     = 6 // already exists, replayed sequence
	exitPrecondition = 7 // state does not allow it yet
	exitIntegrity    = 8 // verification failed: tampering or divergence
	exitUnavailable  = 9 // the node could not be reached
)

// exitCode maps an error to the CLI exit code.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	if errors.Is(err, client.ErrUnreachable) || cc.KindOf(err) == cc.Unavailable {
		return exitUnavailable
	}
	switch cc.KindOf(err) {
	case cc.Invalid, cc.Malformed, cc.NonCanonical, cc.TooLarge, cc.WrongChain, cc.UnknownType, cc.SequenceGap:
		return exitInvalid
	case cc.BadSignature, cc.UnknownSigner, cc.Unauthorized:
		return exitUnauthorized
	case cc.NotFound, cc.Gone:
		return exitNotFound
	case cc.Conflict, cc.SequenceReplay:
		return exitConflict
	case cc.FailedPrecondition:
		return exitPrecondition
	case cc.Integrity:
		return exitIntegrity
	}
	return exitInternal
}

// usageError marks a command-line mistake.
type usageError struct{ error }

func main() {
	defer func() {
		// A bug must not look like a usage error (Go exits 2 on a panic).
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "carechain: internal error: %v\n", r)
			os.Exit(exitInternal)
		}
	}()
	tuneGC()
	root := newRoot()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "carechain:", err)
		os.Exit(exitCode(err))
	}
}

// defaultGOGC is the garbage collector's target carechain runs with unless
// the GOGC environment variable says otherwise: a node allocates heavily
// per transaction (decoding, overlays, JSON), and a heap of three times the
// live data instead of twice collects less often. Five times (400, the
// setting until 2026-12-01) cost more than it saved once the collector's
// share had shrunk: the larger heap's fresh pages (page faults, zeroing,
// cache misses) made `bench epcis` 14 % slower (6 alternating pairs: 4,696
// against 5,356 events/s, 369 against 320 µs per event) and `bench tx`
// 7–10 % slower; 100–150 measured within noise of 200.
const defaultGOGC = 200

// tuneGC applies defaultGOGC when GOGC is not set.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGOGC)
	}
}

// globals are flags shared by every command.
type globals struct {
	output string // text or json
	node   string // API base URL for client commands
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "carechain",
		Short: "carechain: patient-owned health records on a BFT ledger",
		Long: `carechain runs a permissioned, Byzantine-fault-tolerant ledger (CometBFT) on which
patients own their health records and public health shares a trustworthy ledger.

Start with:   carechain demo
Then try:     carechain query status`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	root.PersistentFlags().StringVar(&g.node, "node", envOr("CARECHAIN_NODE", "http://127.0.0.1:8080"), "carechain API URL (env CARECHAIN_NODE)")
	root.AddCommand(
		newDemoCmd(g),
		newInitCmd(g),
		newStartCmd(g),
		newTestnetCmd(g),
		newKeysCmd(g),
		newTxCmd(g),
		newQueryCmd(g),
		newDIDCmd(g),
		newVerifyCmd(g),
		newVerifyProofCmd(g),
		newBenchCmd(g),
		newCustodianCmd(g),
		newClaimCmd(g),
		newVaultCmd(g),
		newEPCISCmd(g),
		newIngestCmd(g),
		newFHIRCmd(g),
		newAccessLogCmd(g),
		newNotificationsCmd(g),
		newCoverageCmd(g),
		newSHCCmd(g),
		newResearchCmd(g),
		newProgramCmd(g),
		newReportCmd(g),
	)
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
