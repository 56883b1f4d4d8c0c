"""An OAI-PMH 2.0 data provider that serves the published descriptions as oai_dc."""
