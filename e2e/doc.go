// Package e2e holds end-to-end tests of the carechain binary: real
// multi-process networks of validators on loopback, driven through the CLI
// and the HTTP API, killed and restarted, tampered with on disk and
// re-verified. The tests build cmd/carechain once (TestMain) and skip under
// -short.
package e2e
