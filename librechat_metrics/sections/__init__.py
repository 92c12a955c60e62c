"""The sections: each a plain function of (database, clock, state, settings) returning metric
families, one module per domain. `SECTIONS` in `registry.py` lists them in run order."""
