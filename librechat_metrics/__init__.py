"""librechat_metrics: LibreChat usage metrics for node_exporter's textfile collector.

A short-lived job, run every minute by a systemd timer or cron. It reads LibreChat's MongoDB
(users, conversations, messages, transactions, files, feedback, tools), and atomically writes
one Prometheus text file that node_exporter's textfile collector serves.

The modules are the stages of the data flow, each importing only those before it:

    settings -> logs, client -> clock, labels, catalogue, families, counters, queries,
    incremental -> sections/* -> state, atomic, textfile -> run -> indexes, cli

What it deliberately does not do:

* It never writes to MongoDB during a run; a user with the built-in ``read`` role is enough.
  Only ``indexes --create`` writes, and only when asked.
* It does not serve HTTP: node_exporter does that, with its own TLS and auth.
* Counters never go down: documents are counted once, when first seen, never by re-counting
  what is stored now.
* It does not re-scan whole collections every minute.

Dependencies: pymongo, prometheus_client, python-dotenv. Python 3.11+.
"""

__version__ = "2.2.0"
