package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"

	cc "carechain"
)

// Problem is an RFC 9457 problem document, carechain's JSON error body.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Kind   string `json:"kind"`
	Code   uint32 `json:"code"`
}

// StatusOf maps an error Kind to its HTTP status.
func StatusOf(k cc.Kind) int {
	switch k {
	case cc.Invalid, cc.Malformed, cc.NonCanonical, cc.WrongChain, cc.UnknownType, cc.SequenceGap:
		return http.StatusBadRequest
	case cc.TooLarge:
		return http.StatusRequestEntityTooLarge
	case cc.BadSignature, cc.UnknownSigner:
		return http.StatusUnauthorized
	case cc.Unauthorized:
		return http.StatusForbidden
	case cc.NotFound:
		return http.StatusNotFound
	case cc.Conflict, cc.SequenceReplay:
		return http.StatusConflict
	case cc.FailedPrecondition:
		return http.StatusUnprocessableEntity
	case cc.Gone:
		return http.StatusGone
	case cc.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers err as a JSON problem. Internal details are logged,
// never sent.
func writeError(w http.ResponseWriter, log *slog.Logger, err error) {
	k := cc.KindOf(err)
	status := StatusOf(k)
	p := Problem{
		Type:   "https://carechain.dev/problems/" + k.String(),
		Title:  http.StatusText(status),
		Status: status,
		Kind:   k.String(),
		Code:   k.Code(),
		Detail: err.Error(),
	}
	if k == cc.Internal || k == cc.Other {
		log.Error("request failed", "err", err)
		p.Detail = "internal error; see the node log"
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
