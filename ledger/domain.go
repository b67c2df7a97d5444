package ledger

import (
	"bytes"
	"encoding/json"
	"log/slog"

	cc "carechain"
	"carechain/access"
	"carechain/consent"
	"carechain/credential"
	"carechain/identity"
	"carechain/programs"
	"carechain/records"
	"carechain/research"
	"carechain/rx"
	"carechain/supply"
)

// Domain returns the Config that wires carechain's domain packages into the
// App: their transaction handlers, signer-key resolution and genesis.
func Domain(log *slog.Logger) Config {
	handlers := map[string]cc.Handler{}
	for _, hs := range []map[string]cc.Handler{identity.Handlers(), consent.Handlers(), records.Handlers(), access.Handlers(), supply.Handlers(), credential.Handlers(), rx.Handlers(), programs.Handlers(), research.Handlers()} {
		for typ, h := range hs {
			if _, dup := handlers[typ]; dup {
				panic("ledger: two domain packages define transaction type " + typ)
			}
			handlers[typ] = h
		}
	}
	// Programs count the doses that supply.administer records, in the same
	// transaction.
	handlers[supply.TypeAdminister] = programs.Observe(handlers[supply.TypeAdminister])
	// A bundle of immunizations and e-prescriptions goes through the same
	// (observed) supply.administer, then rx, in one transaction.
	handlers[rx.TypeBundle] = rx.BundleHandler(handlers[supply.TypeAdminister])
	timeFree := map[string]bool{}
	for _, typ := range identity.TimeFree() {
		timeFree[typ] = true
	}
	return Config{
		Handlers:    handlers,
		TimeFree:    timeFree,
		Predecode:   map[string]func(payload []byte){supply.TypeCapture: supply.Predecode},
		HotPrefixes: supply.HotPrefixes(),
		SignerKey:   identity.SignerKey,
		InitGenesis: initGenesis,
		Logger:      log,
	}
}

// initGenesis decodes the genesis app_state strictly and hands it to the
// domain packages.
func initGenesis(kv cc.KV, appState json.RawMessage, validators []cc.ValidatorUpdate) error {
	var g cc.GenesisState
	dec := json.NewDecoder(bytes.NewReader(appState))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return cc.Errorf("genesis", cc.Malformed, "app_state: %v", err)
	}
	if err := identity.InitGenesis(kv, g); err != nil {
		return err
	}
	return identity.RecordValidators(kv, validators)
}
