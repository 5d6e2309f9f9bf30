"""LLM4IMP: imputation through the project's frozen-LLM core, in PyPOTS's three levels:
`layers.py` (BackboneLLM4IMP), `core.py` (_LLM4IMP), `model.py` (LLM4IMP, the public imputer)."""
