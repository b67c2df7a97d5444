package ledger

import (
	"bytes"
	"encoding/json"
	"log/slog"

	cc "carechain"
	"carechain/identity"
)

// Domain returns the Config that wires carechain's domain packages into the
// App: their transaction handlers, signer-key resolution and genesis.
func Domain(log *slog.Logger) Config {
	return Config{
		Handlers:    identity.Handlers(),
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
