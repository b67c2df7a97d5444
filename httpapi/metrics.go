package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	cc "carechain"
)

// collector exposes cc.Metrics in the Prometheus format.
type collector struct {
	chain                                        cc.Chain
	committed, failed, blocks, rejected, mempool *prometheus.Desc
	blockTime, height                            *prometheus.Desc
	checkBatches, checkBatched                   *prometheus.Desc
	preVerified, stage                           *prometheus.Desc
}

func newCollector(chain cc.Chain) *collector {
	return &collector{
		chain:     chain,
		committed: prometheus.NewDesc("carechain_committed_txs_total", "Transactions committed with code 0.", nil, nil),
		failed:    prometheus.NewDesc("carechain_failed_txs_total", "Transactions included in a block with a non-zero code.", nil, nil),
		blocks:    prometheus.NewDesc("carechain_blocks_total", "Blocks committed by this node since it started.", nil, nil),
		rejected:  prometheus.NewDesc("carechain_rejected_txs_total", "Transactions rejected (mempool admission or block execution), by error kind.", []string{"kind"}, nil),
		mempool:   prometheus.NewDesc("carechain_mempool_txs", "Transactions waiting in the mempool.", nil, nil),
		blockTime: prometheus.NewDesc("carechain_block_interval_seconds", "Time between the last two committed blocks.", nil, nil),
		height:    prometheus.NewDesc("carechain_height", "Latest committed height.", nil, nil),
		checkBatches: prometheus.NewDesc("carechain_mempool_check_batches_total",
			"Batches in which the mempool checked transactions gossiped by peers, their signatures verified together.", nil, nil),
		checkBatched: prometheus.NewDesc("carechain_mempool_check_batched_txs_total",
			"Transactions gossiped by peers that the mempool checked in batches.", nil, nil),
		preVerified: prometheus.NewDesc("carechain_signatures_preverified_total",
			"Signatures verified in batches before CheckTx.", nil, nil),
		stage: prometheus.NewDesc("carechain_block_stage_seconds",
			"Time the last committed block spent in each stage on this node: consensus (proposal to FinalizeBlock), execute (FinalizeBlock), commit (Commit).", []string{"stage"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.committed, c.failed, c.blocks, c.rejected, c.mempool, c.blockTime, c.height, c.checkBatches, c.checkBatched, c.preVerified, c.stage} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.chain.Metrics()
	ch <- prometheus.MustNewConstMetric(c.committed, prometheus.CounterValue, float64(m.CommittedTx))
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(m.FailedTx))
	ch <- prometheus.MustNewConstMetric(c.blocks, prometheus.CounterValue, float64(m.Blocks))
	for kind, n := range m.RejectedByKind {
		ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(n), kind)
	}
	ch <- prometheus.MustNewConstMetric(c.mempool, prometheus.GaugeValue, float64(m.MempoolSize))
	ch <- prometheus.MustNewConstMetric(c.blockTime, prometheus.GaugeValue, m.LastBlockTime.Seconds())
	ch <- prometheus.MustNewConstMetric(c.height, prometheus.GaugeValue, float64(m.Height))
	ch <- prometheus.MustNewConstMetric(c.checkBatches, prometheus.CounterValue, float64(m.CheckBatches))
	ch <- prometheus.MustNewConstMetric(c.checkBatched, prometheus.CounterValue, float64(m.CheckBatchedTxs))
	ch <- prometheus.MustNewConstMetric(c.preVerified, prometheus.CounterValue, float64(m.PreVerifiedSigs))
	for stage, d := range m.LastBlockStages {
		ch <- prometheus.MustNewConstMetric(c.stage, prometheus.GaugeValue, d.Seconds(), stage)
	}
}

// metrics serves GET /metrics.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	s.metricsOnce.Do(func() {
		reg := prometheus.NewRegistry()
		reg.MustRegister(newCollector(s.chain))
		s.metricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	})
	s.metricsHandler.ServeHTTP(w, r)
}
