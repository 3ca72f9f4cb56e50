"""Train, evaluate and serve the listwise re-ranker on plain arrays (no Django here).

Entry points: `data.Dataset`, `text.TextEncoder`, `config.RerankerConfig`, `train.train` and
`artifact.Reranker` (save/load/recommend/rerank). See `evaluate` for the offline protocol.
"""
