"""Stancegraph: an RDF knowledge graph of who proposes, rejects and conditions what in negotiations."""

__version__ = "0.1.0"
