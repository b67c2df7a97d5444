package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	cc "carechain"
	"carechain/access"
)

// ResearchExtractQuery is the query every signed read of a research
// extract carries (httpapi.ExtractQuery).
var ResearchExtractQuery = access.SearchQuery("", url.Values{"_count": {strconv.Itoa(access.MaxEventRecords)}})

// ResearchParticipant is a patient who counts for a project and the
// custodians holding their records.
type ResearchParticipant struct {
	Patient    cc.DID   `json:"patient"`
	Basis      string   `json:"basis"`
	Custodians []string `json:"custodians"`
}

// ResearchExtract is an extract job's status and manifest.
type ResearchExtract struct {
	Job      string   `json:"job"`
	Project  string   `json:"project"`
	Done     bool     `json:"done"`
	Error    string   `json:"error,omitempty"`
	Patients int      `json:"patients"`
	Skipped  int      `json:"skipped"`
	Events   []string `json:"access_events"`
	Files    []struct {
		Type  string `json:"type"`
		URL   string `json:"url"`
		Count int    `json:"count"`
	} `json:"output"`
}

// StartResearchExtract signs, as s acting for the institute org, one
// export read (purpose HRESEARCH) per participant and custodian of
// project, posts them, and returns the job id. Participants are those the
// node lists at GET /v1/research/projects/{id}/participants.
func (c *Client) StartResearchExtract(ctx context.Context, s *Signer, project, org string) (string, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return "", err
	}
	var parts []ResearchParticipant
	if err := c.Get(ctx, "/v1/research/projects/"+url.PathEscape(project)+"/participants", &parts); err != nil {
		return "", err
	}
	type read struct {
		Custodian string            `json:"custodian"`
		Read      access.SignedRead `json:"read"`
	}
	reads := []read{}
	for _, p := range parts {
		for _, cust := range p.Custodians {
			sr, err := access.SignRead(access.ReadRequest{ChainID: chainID, Requester: s.DID, Patient: p.Patient,
				Action: access.ActionExport, Purpose: "HRESEARCH", Query: ResearchExtractQuery, Org: org,
				Issued: time.Now().UTC(), Nonce: nonce()}, s.Key)
			if err != nil {
				return "", err
			}
			reads = append(reads, read{Custodian: cust, Read: sr})
		}
	}
	if len(reads) == 0 {
		return "", cc.Errorf("research.extract", cc.FailedPrecondition, "research project %s has no participant with records", project)
	}
	body, err := json.Marshal(map[string]any{"reads": reads})
	if err != nil {
		return "", cc.E("research.extract", cc.Internal, err)
	}
	var out struct {
		Job string `json:"job"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/research/projects/"+url.PathEscape(project)+"/extracts", body, &out); err != nil {
		return "", err
	}
	return out.Job, nil
}

// WaitResearchExtract polls an extract job until it is done.
func (c *Client) WaitResearchExtract(ctx context.Context, job string) (*ResearchExtract, error) {
	for {
		var st ResearchExtract
		if err := c.Get(ctx, "/v1/research/extracts/"+url.PathEscape(job), &st); err != nil {
			return nil, err
		}
		if st.Done {
			if st.Error != "" {
				return &st, cc.Errorf("research.extract", cc.Internal, "the extract failed: %s", st.Error)
			}
			return &st, nil
		}
		select {
		case <-ctx.Done():
			return nil, cc.E("research.extract", cc.Unavailable, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
