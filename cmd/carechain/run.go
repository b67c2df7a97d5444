package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	cc "carechain"
	"carechain/chain"
	"carechain/httpapi"
)

// settings is carechain's own per-home configuration, beside CometBFT's
// config.toml: HOME/config/carechain.json.
type settings struct {
	HTTP string `json:"http"` // API listen address, loopback by default
	// Peers maps an organization id to the API base URL of the node that
	// holds its records: reads of those records are relayed there.
	Peers map[string]string `json:"peers,omitempty"`
}

func settingsPath(home string) string { return filepath.Join(home, "config", "carechain.json") }

func loadSettings(home string) settings {
	s := settings{HTTP: "127.0.0.1:8080"}
	if b, err := os.ReadFile(settingsPath(home)); err == nil {
		json.Unmarshal(b, &s)
	}
	return s
}

func saveSettings(home string, s settings) error {
	b, _ := json.MarshalIndent(s, "", "  ")
	return os.WriteFile(settingsPath(home), append(b, '\n'), 0o644)
}

func newLogger(home string) (*slog.Logger, func(), error) {
	path := filepath.Join(home, "carechain.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})), func() { f.Close() }, nil
}

// running is a started node with its HTTP API and records service.
type running struct {
	node      *chain.Node
	records   *recordsService
	readModel *readModel
	api       *httpapi.Server
	srv       *http.Server
	addr      string
}

// startNode opens home's chain and serves the API on httpAddr.
func startNode(ctx context.Context, home, httpAddr string, log *slog.Logger) (*running, error) {
	n, err := chain.Open(ctx, home, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		n.Close()
		return nil, cc.Errorf("start", cc.Conflict, "cannot listen on %s: %v (use --http to pick another address)", httpAddr, err)
	}
	rm, err := openReadModel(home, n, log, time.Second)
	if err != nil {
		ln.Close()
		n.Close()
		return nil, err
	}
	rs, err := openRecords(home, n, n.App.Notifier(), log, rm.register(log), rm.occurrences(log))
	if err != nil {
		rm.close()
		ln.Close()
		n.Close()
		return nil, err
	}
	issuers, err := loadIssuers(home)
	if err != nil {
		rs.close()
		rm.close()
		ln.Close()
		n.Close()
		return nil, err
	}
	api := httpapi.New(n, log)
	api.SetRecords(rs.gks...)
	api.SetIssuers(issuers...)
	api.SetIndex(rm.db)
	api.SetPeers(loadSettings(home).Peers)
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	return &running{node: n, records: rs, readModel: rm, api: api, srv: srv, addr: ln.Addr().String()}, nil
}

// stop shuts the API down, then the node (which persists everything
// committed; CometBFT replays anything after the last commit at restart).
func (r *running) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.srv.Shutdown(ctx)
	r.records.close()
	r.readModel.close()
	return r.node.Close()
}

// stopSignals starts catching SIGINT and SIGTERM now, before a node
// starts, so a signal that arrives while it starts stops it cleanly too;
// receive from the channel to wait.
func stopSignals() <-chan os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch
}

func newStartCmd(g *globals) *cobra.Command {
	var home, httpAddr, cpuProfile string
	c := &cobra.Command{
		Use:   "start",
		Short: "Run one validator of a carechain network from its home (see init, testnet)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" {
				return usageError{fmt.Errorf("--home is required")}
			}
			if httpAddr == "" {
				httpAddr = loadSettings(home).HTTP
			}
			sigs := stopSignals()
			log, closeLog, err := newLogger(home)
			if err != nil {
				return err
			}
			defer closeLog()
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			r, err := startNode(context.Background(), home, httpAddr, log)
			if err != nil {
				return err
			}
			st, _ := r.node.Status(context.Background())
			fmt.Printf("carechain node %s on chain %s at height %d\n  API:     http://%s/v1/status\n  CometBFT RPC: %s\n  log:     %s\nCtrl-C stops.\n",
				st.Moniker, st.ChainID, st.LatestHeight, r.addr, r.node.Node.RPCAddr(), filepath.Join(home, "carechain.log"))
			sig := <-sigs
			fmt.Printf("\n%s: stopping…\n", sig)
			return r.stop()
		},
	}
	c.Flags().StringVar(&home, "home", "", "node home directory (from init or testnet)")
	c.Flags().StringVar(&httpAddr, "http", "", "API listen address (default from HOME/config/carechain.json, else 127.0.0.1:8080)")
	c.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the node to FILE until it stops (go tool pprof)")
	return c
}
