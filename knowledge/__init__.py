"""Staff-curated knowledge base: service guides, FAQs and service centres.

Public surface for other packages: :mod:`knowledge.repository` (reads and writes,
with audit), :mod:`knowledge.search` (Chinese retrieval). Nothing here imports Flask
except :mod:`knowledge.web`, so the action server can use the repository and search.
"""
