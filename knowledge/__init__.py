"""Staff-curated knowledge base: service guides, FAQs and service centres.

Public surface for other packages: :mod:`knowledge.repository` (reads and writes,
with audit), :mod:`knowledge.search` (Chinese retrieval). Nothing here imports Flask
except :mod:`knowledge.api` (the JSON API blueprint the app server mounts), so the
action server can use the repository and search.
"""
