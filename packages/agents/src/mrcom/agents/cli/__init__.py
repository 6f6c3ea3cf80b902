"""The commands of mrcom.agents, one module each (`python -m mrcom.agents.cli.<name>`, or the console
script `mrcom-<name>`): `pipeline` (collect -> train -> adapt -> evaluate for seeds and protocols),
and the single stages `collect`, `train`, `adapt`. The functions they call are `mrcom.agents.run_*`."""
